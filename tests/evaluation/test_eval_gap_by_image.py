"""s3mamba analyze gap-by-image (analysis/gap_by_image.py): which frames carry a pooled-IoU gap between two models."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from nnunetv2_s3mamba.analysis.gap_by_image import gap_by_image
from nnunetv2_s3mamba.cli import main as s3mamba_main
from nnunetv2_s3mamba.evaluation.metrics import confusion


def _square(size: int, at: int = 5) -> np.ndarray:
    mask = np.zeros((40, 40), bool)
    mask[at:at + size, at:at + size] = True
    return mask


def test_a_gap_made_by_one_grossly_wrong_frame_is_attributed_to_it():
    gts = {"a": _square(10), "b": _square(10), "c": _square(4), "d": _square(4)}
    reference = {f: confusion(gt, gt) for f, gt in gts.items()}
    model_preds = dict(gts)
    model_preds["c"] = _square(12)                   # lesion of 16 px drawn as 144 px: IoU 16/144
    model_preds["a"] = _square(10) & ~_square(1, 5)  # one pixel missed: IoU 99/100
    model = {f: confusion(model_preds[f], gts[f]) for f in gts}
    result = gap_by_image(reference, model, {"a": "large", "b": "large", "c": "small", "d": "small"}, top=2)

    small = result["small"]
    assert small["gap"] == pytest.approx(100 - 100 * 32 / 160, abs=0.01)
    assert small["top_frames"][0]["frame"] == "c"
    assert small["top_frames"][0]["gap_share"] == pytest.approx(small["gap"], abs=0.01)
    assert small["top_frames"][0]["model_tp_fp_fn"] == [16, 128, 0]
    assert small["top_frames"][0]["reference_tp_fp_fn"] == [16, 0, 0]
    assert small["gap_without_top_frames"]["1"] == 0.0
    assert (small["frames_model_better"], small["frames_model_worse"]) == (0, 1)
    assert small["per_image_iou_difference_median"] == pytest.approx((-(1 - 16 / 144)) / 2, abs=1e-4)

    large = result["large"]
    assert large["gap"] == pytest.approx(100 - 100 * 199 / 200, abs=0.01)
    assert large["frames_model_worse"] == 0           # 1 IoU point is inside the 2-point margin
    assert result["all"]["frames"] == 4 and result["all"]["top_frames"][0]["frame"] == "c"


def test_missing_or_mismatched_predictions_are_named(tmp_path, capsys):
    labels, preds = tmp_path / "labels", tmp_path / "pred"
    labels.mkdir()
    preds.mkdir()
    Image.fromarray(_square(4).astype(np.uint8)).save(labels / "x.png")
    strata = tmp_path / "size_strata.json"
    strata.write_text(json.dumps({"cases": {"x": {"stratum": "small"}}}))
    command = ["analyze", "gap-by-image", str(labels), str(strata), str(preds), str(preds)]
    assert s3mamba_main(command) == 2
    assert re.search(r"no prediction.*\['x'\]", capsys.readouterr().out)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(preds / "x.png")
    assert s3mamba_main(command) == 2
    assert "shape" in capsys.readouterr().out


def test_per_sequence_pooling_counts_sequences_and_the_gap_without_each():
    from nnunetv2_s3mamba.analysis.gap_by_image import cvc_sequences_of, sequence_gap

    sequence_of = cvc_sequences_of(["cvc_001", "cvc_025", "cvc_026", "cvc_068"])
    assert sequence_of == {"cvc_001": 1, "cvc_025": 1, "cvc_026": 2, "cvc_068": 4}
    gts = {f: _square(10) for f in sequence_of}
    reference = {f: confusion(gt, gt) for f, gt in gts.items()}
    model_preds = dict(gts)
    model_preds["cvc_026"] = _square(5)              # sequence 2: IoU 25/100, the model loses it
    model = {f: confusion(model_preds[f], gts[f]) for f in gts}
    result = sequence_gap(reference, model, sequence_of)

    assert result["sequences"] == 3
    assert result["per_sequence"]["1"] == {"frames": 2, "reference_iou": 100.0, "model_iou": 100.0}
    assert result["per_sequence"]["2"]["model_iou"] == 25.0
    assert (result["sequences_model_better"], result["sequences_model_worse"]) == (0, 1)
    # Leaving out sequence 2 closes the gap; leaving out sequence 1 (two good frames) widens it most:
    # the model keeps 125 of 200 lesion pixels, IoU 62.5.
    assert result["gap_leaving_out_one_sequence"] == [0.0, pytest.approx(100 - 62.5, abs=0.01)]
    # Resampled by sequence, the model is never ahead: a draw without sequence 2 ((2/3)^3 = 30% of them) ties,
    # one of sequence 2 three times (1/27 = 3.7%, more than the top 2.5%) gives the gap 100 - 25.
    bootstrap = result["sequence_bootstrap"]
    assert bootstrap["model_ahead_share"] == 0.0
    assert bootstrap["gap_95_interval"] == [0.0, 75.0]


def test_sequence_bootstrap_separates_a_broad_lead_from_one_carried_by_a_single_sequence():
    from nnunetv2_s3mamba.analysis.gap_by_image import sequence_gap

    sequence_of = {f"f{i}": i for i in range(6)}
    gt = _square(10)
    perfect = {f: confusion(gt, gt) for f in sequence_of}
    too_large = {f: confusion(_square(11), gt) for f in sequence_of}    # 121 px drawn: IoU 100/121 on every one
    result = sequence_gap(too_large, perfect, sequence_of)["sequence_bootstrap"]
    assert result["model_ahead_share"] == 1.0
    assert result["gap_95_interval"][1] < 0

    # The reference fails sequence 0 (9 of 100 px) and is perfect elsewhere; the model is perfect on sequence 0 and
    # misses one pixel elsewhere. The model is ahead in exactly the draws that contain sequence 0.
    reference = dict(perfect, f0=confusion(_square(3), gt))
    model = {f: confusion(gt & ~_square(1, 5), gt) for f in sequence_of} | {"f0": perfect["f0"]}
    result = sequence_gap(reference, model, sequence_of)["sequence_bootstrap"]
    assert result["model_ahead_share"] == pytest.approx(1 - (5 / 6) ** 6, abs=0.02)
    low, high = result["gap_95_interval"]
    assert low < 0 < high == pytest.approx(1.0)

    # Sequences with nothing to segment score as `s3mamba evaluate` scores them: 100 where nothing is predicted.
    empty = np.zeros_like(gt)
    reference = {"f0": confusion(empty, empty), "f1": confusion(empty, empty)}
    model = {"f0": confusion(empty, empty), "f1": confusion(gt, empty)}   # a false region where there is no lesion
    result = sequence_gap(reference, model, {"f0": 0, "f1": 1})["sequence_bootstrap"]
    assert result["model_ahead_share"] == 0.0
    assert result["gap_95_interval"] == [0.0, 100.0]


def test_per_sequence_pooling_names_cases_without_a_frame_number():
    from nnunetv2_s3mamba.analysis.gap_by_image import cvc_sequences_of

    with pytest.raises(ValueError, match=r"frame number.*\['lesion_a'\]"):
        cvc_sequences_of(["cvc_001", "lesion_a"])
