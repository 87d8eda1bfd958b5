"""`evaluate_folder` and the `s3mamba evaluate` / `overlay` commands on PNG and NIfTI folders."""
from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from nnunetv2_s3mamba.cli import main
from nnunetv2_s3mamba.data.strata import StratumThresholds
from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.evaluation import evaluate_folder
from eval_cases import hand_case_a, hand_case_b


def _write_png_set(root):
    for sub in ("gt", "pred", "images"):
        (root / sub).mkdir(parents=True)
    for case, (pred, gt) in {"a": hand_case_a(), "b": hand_case_b()}.items():
        Image.fromarray(gt.astype(np.uint8)).save(root / "gt" / f"{case}.png")
        Image.fromarray(pred.astype(np.uint8)).save(root / "pred" / f"{case}.png")
        Image.fromarray(np.full((4, 4, 3), 90, np.uint8)).save(root / "images" / f"{case}_0000.png")
    strata = {"thresholds": {"small_max_pixels": 4, "medium_max_pixels": 6},
              "cases": {"a": {"stratum": "small", "pixels": 4}, "b": {"stratum": "large", "pixels": 8}}}
    (root / "strata.json").write_text(json.dumps(strata))


def test_report_per_stratum_pooled_and_per_image(tmp_path):
    _write_png_set(tmp_path)
    report = evaluate_folder(tmp_path / "pred", tmp_path / "gt", tmp_path / "strata.json", tmp_path / "out",
                             show_progress=False, min_lesion_size=1)   # the hand cases' lesions are 2-8 px
    table = report.pixel_table()
    assert report.strata == ["small", "large", "all"]
    assert table["pooled"]["small"]["mIoU"] == pytest.approx(1 / 3)
    assert table["pooled"]["all"]["mIoU"] == pytest.approx(10 / 14)
    assert table["per-image"]["all"]["mIoU"] == pytest.approx(2 / 3)
    det = report.detection_by_lesion_size()
    assert det["small"]["lesions"] == 1 and det["large"]["lesions"] == 1 and det["all"]["hit_rate"] == 1.0
    assert report.detection_by_image_stratum()["small"]["fp_components_per_image"] == 1.0
    rows = list(csv.DictReader((tmp_path / "out" / "lesion_size_metrics.csv").open()))
    row = next(r for r in rows if r["aggregation"] == "pooled" and r["stratum"] == "all" and r["metric"] == "DSC")
    assert float(row["value"]) == pytest.approx(20 / 24, abs=1e-5)
    saved = json.loads((tmp_path / "out" / "lesion_size_metrics.json").read_text())
    assert saved["pixel_metrics"]["per-image"]["large"]["SEN"] == 1.0
    markdown = (tmp_path / "out" / "lesion_size_metrics.md").read_text()
    assert "| pooled | 33.33 | 100.00 | 71.43 |" in markdown
    assert "Every connected component counts (minimum lesion size 1 px)." in markdown


def test_missing_prediction_is_listed(tmp_path):
    _write_png_set(tmp_path)
    (tmp_path / "pred" / "b.png").unlink()
    with pytest.raises(UserError, match=r"no prediction.*\['b'\]"):
        evaluate_folder(tmp_path / "pred", tmp_path / "gt", show_progress=False)


def test_without_strata_file_lesions_are_binned_by_data_strata_over_the_evaluated_lesions(tmp_path):
    _write_png_set(tmp_path)  # GT lesions of 4 and 8 px: the 30% and 60% rank positions are both the 1st
    report = evaluate_folder(tmp_path / "pred", tmp_path / "gt", show_progress=False, min_lesion_size=1)
    assert report.lesion_thresholds == StratumThresholds(small_max=4, medium_max=4)
    det = report.detection_by_lesion_size()
    assert (det["small"]["lesions"], det["medium"]["lesions"], det["large"]["lesions"]) == (1, 0, 1)


def test_label_k_and_nifti_3d(tmp_path):
    gt = np.zeros((6, 6, 4), np.uint8)
    gt[1:3, 1:3, 1] = 2
    gt[4, 4, 3] = 1
    pred = np.zeros_like(gt)
    pred[1:3, 1:3, 1] = 2
    for sub, array in (("gt", gt), ("pred", pred)):
        (tmp_path / sub).mkdir()
        nib.Nifti1Image(array, np.eye(4)).to_filename(str(tmp_path / sub / "v.nii.gz"))
    any_fg = evaluate_folder(tmp_path / "pred", tmp_path / "gt", show_progress=False).pixel_table()
    only_2 = evaluate_folder(tmp_path / "pred", tmp_path / "gt", lesion_labels=2, show_progress=False).pixel_table()
    assert any_fg["pooled"]["all"]["SEN"] == pytest.approx(4 / 5)
    assert only_2["pooled"]["all"]["SEN"] == 1.0


def test_cli_evaluate_with_overlays_and_overlay_command(tmp_path, capsys):
    _write_png_set(tmp_path)
    out = tmp_path / "out"
    code = main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "--strata", str(tmp_path / "strata.json"),
                 "-o", str(out), "--overlays", "1", "--images", str(tmp_path / "images"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0 and "mIoU S" in printed
    # The hand cases' lesions (4 and 8 px) are below the default minimum lesion size of 10 px: specks.
    assert "Components under 10 px are specks, not lesions: 2 in the ground truth" in printed
    assert (out / "lesion_size_metrics_bars.png").stat().st_size > 0
    assert [p.name for p in (out / "overlays").iterdir()] == ["overlay_a.png"]  # the smallest lesion
    code = main(["overlay", str(tmp_path / "pred"), str(tmp_path / "gt"), "-o", str(tmp_path / "ov"),
                 "--images", str(tmp_path / "images"), "--cases", "b"])
    assert code == 0 and Image.open(tmp_path / "ov" / "overlay_b.png").size[0] > 100
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "--no-progress",
                 "--min-lesion-size", "0"]) == 2
    assert "at least 1 pixel" in capsys.readouterr().err
    (tmp_path / "pred" / "a.png").unlink()
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "--no-progress"]) == 2
    assert "no prediction" in capsys.readouterr().err
