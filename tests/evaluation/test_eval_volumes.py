"""`s3mamba evaluate` on 3D NIfTI volumes with two classes: per-class components, hit rules, minimum lesion size,
per-lesion Dice, false positives per case, lesion labels by name, and nnU-Net's summary.json beside ours.

Every expected number is worked out by hand below from the boxes drawn, not by the code under test.
"""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from nnunetv2_s3mamba.cli import main
from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.evaluation import evaluate_folder

NODE, VESSEL = 1, 2
SHAPE = (20, 20, 20)


def _save(array, path):
    nib.save(nib.Nifti1Image(array.astype(np.uint8), np.eye(4)), str(path))


@pytest.fixture
def volumes(tmp_path):
    """Raw-dataset layout: dataset.json beside labelsTs; predictions in pred/.

    v1 ground truth: node A = 3x3x3 = 27 voxels, node B = 2x2x2 = 8 (missed), vessel C = 4x4x2 = 32.
    v1 prediction: node 3x3x2 = 18 voxels inside A (IoU 18/27 = 2/3, Dice 36/45 = 0.8); a node false positive of
    8 voxels; vessel = C exactly (IoU = Dice = 1); a 2-voxel vessel speck far from everything.
    v2: no ground truth; a 27-voxel node false positive.
    """
    (tmp_path / "labelsTs").mkdir()
    (tmp_path / "pred").mkdir()
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "node": NODE, "vessel": VESSEL},
                                                       "file_ending": ".nii.gz"}))
    gt, pred = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8)
    gt[2:5, 2:5, 2:5] = NODE
    gt[10:12, 10:12, 10:12] = NODE
    gt[2:6, 12:16, 2:4] = VESSEL
    pred[2:5, 2:5, 2:4] = NODE
    pred[15:17, 15:17, 15:17] = NODE
    pred[2:6, 12:16, 2:4] = VESSEL
    pred[18, 2, 17:19] = VESSEL
    _save(gt, tmp_path / "labelsTs" / "v1.nii.gz")
    _save(pred, tmp_path / "pred" / "v1.nii.gz")
    pred2 = np.zeros(SHAPE, np.uint8)
    pred2[5:8, 5:8, 5:8] = NODE
    _save(np.zeros(SHAPE, np.uint8), tmp_path / "labelsTs" / "v2.nii.gz")
    _save(pred2, tmp_path / "pred" / "v2.nii.gz")
    return tmp_path


def test_per_class_components_hits_dice_and_false_positives(volumes):
    report = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=3)
    assert report.classes == {"node": (NODE,), "vessel": (VESSEL,)}
    per_class = report.per_class_table()
    node, vessel = per_class["node"]["detection"], per_class["vessel"]["detection"]
    assert (node["lesions"], node["hit_rate"], node["false_positive_components"]) == (2, 0.5, 2)
    assert node["fp_components_per_image"] == 1.0                    # one in v1, one in v2
    assert node["mean_lesion_dice"] == pytest.approx((0.8 + 0.0) / 2)
    assert (vessel["lesions"], vessel["hit_rate"], vessel["false_positive_components"]) == (1, 1.0, 0)
    v1 = {c.case: c for c in report.cases}["v1"]
    assert v1.per_class["vessel"].detection.ignored_predicted_components == 1   # the 2-voxel speck (< 3)
    node_lesions = sorted(v1.per_class["node"].detection.lesions, key=lambda l: l.size)
    assert [(l.size, l.hit) for l in node_lesions] == [(8, False), (27, True)]
    assert node_lesions[1].iou == pytest.approx(2 / 3) and node_lesions[1].dice == pytest.approx(0.8)
    # node pixels pooled over v1 and v2: TP 18, FP 8 + 27, FN 9 + 8 -> DSC 36 / (36 + 35 + 17)
    assert per_class["node"]["pixel_metrics"]["pooled"]["DSC"] == pytest.approx(36 / 88)
    # the union of both classes: lesions A, B, C; false positives: the node in v1 and in v2 (speck ignored)
    union = report.detection_by_image_stratum()["all"]
    assert (union["lesions"], union["hit_rate"], union["false_positive_components"]) == (3, pytest.approx(2 / 3), 2)
    # lesion-size bins ranked over [8, 27, 32]: positions round(0.9) = 1 and round(1.8) = 2 -> small <= 8 < medium
    # <= 27 < large: B (missed) small, A (hit) medium, C (hit) large
    by_size = report.detection_by_lesion_size()
    assert [by_size[s]["hit_rate"] for s in ("small", "medium", "large")] == [0.0, 1.0, 1.0]
    node_by_size = per_class["node"]["detection_by_lesion_size"]
    assert (node_by_size["small"]["hit_rate"], node_by_size["medium"]["hit_rate"]) == (0.0, 1.0)
    assert node_by_size["large"]["lesions"] == 0


def test_hit_rule_iou_and_minimum_size(volumes):
    strict = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=3,
                             hit_iou=0.7).per_class_table()
    assert strict["node"]["detection"]["hit_rate"] == 0.0           # A's IoU 2/3 < 0.7
    assert strict["vessel"]["detection"]["hit_rate"] == 1.0
    every = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=1)
    assert every.per_class_table()["vessel"]["detection"]["false_positive_components"] == 1   # the speck counts
    large_only = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=10)
    node = large_only.per_class_table()["node"]["detection"]
    assert (node["lesions"], node["false_positive_components"]) == (1, 1)   # B and v1's 8-voxel FP are specks
    with pytest.raises(UserError, match="hit IoU"):
        evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, hit_iou=0)


def test_lesion_labels_by_name_and_id(volumes):
    node_only = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=3,
                                lesion_labels="node")
    assert node_only.classes == {"node": (NODE,)}
    assert node_only.detection_by_image_stratum()["all"]["lesions"] == 2
    by_id = evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, min_lesion_size=3,
                            lesion_labels="2")
    assert by_id.classes == {"vessel": (VESSEL,)} and by_id.settings["lesion_labels"] == "vessel (2)"
    with pytest.raises(UserError, match=r"no label named 'tumour'.*node \(1\), vessel \(2\)"):
        evaluate_folder(volumes / "pred", volumes / "labelsTs", show_progress=False, lesion_labels="tumour")


def test_cli_writes_documented_keys_and_nnunet_summary(volumes, capsys):
    out = volumes / "out"
    assert main(["evaluate", str(volumes / "pred"), str(volumes / "labelsTs"), "-o", str(out), "--no-progress",
                 "--min-lesion-size", "3", "--hit-iou", "0.5", "--lesion-labels", "node,vessel"]) == 0
    assert "## Per class" in capsys.readouterr().out
    ours = json.loads((out / "lesion_size_metrics.json").read_text())
    assert ours["settings"]["hit_rule"] == "lesion IoU >= 0.5"
    assert set(ours["per_class"]["node"]) == {"ids", "pixel_metrics", "detection", "detection_by_lesion_size"}
    assert ours["cases"]["v2"]["per_class"]["node"]["false_positive_components"] == 1
    assert ours["cases"]["v1"]["per_class"]["node"]["lesions"][0].keys() == {"size", "hit", "iou", "dice"}
    nnunet = json.loads((out / "summary.json").read_text())
    # nnU-Net: per-case Dice, mean over cases with NaN (nothing to find, nothing predicted) left out.
    # node: v1 2*18 / (2*18 + 8 + 17) = 36/61, v2 0; vessel: v1 64 / (64 + 2), v2 NaN.
    assert nnunet["mean"]["1"]["Dice"] == pytest.approx((36 / 61 + 0) / 2)
    assert nnunet["mean"]["2"]["Dice"] == pytest.approx(64 / 66)
    assert main(["evaluate", str(volumes / "pred"), str(volumes / "labelsTs"), "--no-progress", "--label", "x"]) == 2
    assert "no label named 'x'" in capsys.readouterr().err
