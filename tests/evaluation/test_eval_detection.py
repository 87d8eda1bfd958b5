"""Per-lesion detection on a hand-made case: hits, lesion IoU, misses, false-positive components."""
from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_s3mamba.evaluation import detect_lesions


def test_hand_made_detection_case():
    gt = np.zeros((12, 12), bool)
    pred = np.zeros((12, 12), bool)
    gt[0:2, 0:2] = True          # lesion 1: 4 px, fully predicted
    pred[0:2, 0:2] = True
    gt[5:8, 5:8] = True          # lesion 2: 9 px, touched by a 2-px component (1 px inside)
    pred[7, 7:9] = True
    gt[0, 11] = True             # lesion 3: 1 px, missed
    pred[10, 0] = True           # false positive: 3 px, diagonal pixels form ONE component (full connectivity)
    pred[11, 1] = True
    pred[10, 2] = True
    result = detect_lesions(pred, gt, min_size=1)
    by_size = {l.size: l for l in result.lesions}
    assert sorted(by_size) == [1, 4, 9]
    assert by_size[4].hit and by_size[4].iou == 1.0
    assert by_size[9].hit and by_size[9].iou == pytest.approx(1 / (9 + 2 - 1))
    assert not by_size[1].hit and by_size[1].iou == 0.0
    assert result.false_positive_components == 1
    assert result.predicted_components == 3


def test_detection_in_3d_uses_26_connectivity():
    gt = np.zeros((4, 4, 4), bool)
    gt[0, 0, 0] = gt[1, 1, 1] = True  # diagonal neighbours: one lesion
    result = detect_lesions(np.zeros_like(gt), gt, min_size=1)
    assert [l.size for l in result.lesions] == [2] and not result.lesions[0].hit


def test_specks_below_the_minimum_size_are_neither_lesions_nor_false_positives():
    gt = np.zeros((20, 20), bool)
    pred = np.zeros((20, 20), bool)
    gt[0:4, 0:5] = True          # a 20-px lesion, touched by a 2-px predicted speck: still hit
    pred[3, 3:5] = True
    gt[10, 10] = True            # a 1-px annotation speck: not a lesion
    gt[15:19, 0:3] = True        # a 12-px lesion, missed
    pred[19, 19] = True          # a 1-px predicted speck outside the lesions: not a false positive
    pred[8:11, 15:19] = True     # a 12-px predicted component outside the lesions: a false positive
    result = detect_lesions(pred, gt)            # the default minimum, 10 px
    assert sorted((l.size, l.hit) for l in result.lesions) == [(12, False), (20, True)]
    assert (result.ignored_gt_components, result.false_positive_components, result.ignored_predicted_components) \
        == (1, 1, 1)
    everything = detect_lesions(pred, gt, min_size=1)
    assert len(everything.lesions) == 3 and everything.false_positive_components == 2
