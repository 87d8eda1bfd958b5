"""Hand-made 4x4 cases whose metrics are computed by hand in the tests."""
from __future__ import annotations

import numpy as np


def hand_case_a():
    gt = np.zeros((4, 4), bool)
    gt[0:2, 0:2] = True  # 4 lesion pixels
    pred = np.zeros((4, 4), bool)
    pred[0, 0:2] = True  # 2 hits
    pred[3, 2:4] = True  # 2 false positives
    return pred, gt


def hand_case_b():
    gt = np.zeros((4, 4), bool)
    gt[2:4, :] = True
    return gt.copy(), gt
