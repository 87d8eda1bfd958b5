"""Table 1 metrics against hand-computed values; pooled and per-image means differ where they should."""
from __future__ import annotations

import math

import numpy as np
import pytest

from eval_cases import hand_case_a, hand_case_b
from nnunetv2_s3mamba.evaluation import Confusion, confusion, mean_image_scores, pooled_scores, scores


def test_confusion_counts():
    assert confusion(*hand_case_a()) == Confusion(tp=2, fp=2, fn=2, tn=10)
    assert confusion(*hand_case_b()) == Confusion(tp=8, fp=0, fn=0, tn=8)


def test_single_image_scores():
    s = scores(confusion(*hand_case_a()))
    assert s == pytest.approx({"mIoU": 2 / 6, "DSC": 4 / 8, "ACC": 12 / 16, "SPE": 10 / 12, "SEN": 2 / 4})


def test_pooled_differs_from_mean_over_images():
    cs = [confusion(*hand_case_a()), confusion(*hand_case_b())]
    assert pooled_scores(cs) == pytest.approx(
        {"mIoU": 10 / 14, "DSC": 20 / 24, "ACC": 28 / 32, "SPE": 18 / 20, "SEN": 10 / 12})
    assert mean_image_scores(cs) == pytest.approx(
        {"mIoU": (1 / 3 + 1) / 2, "DSC": 0.75, "ACC": 0.875, "SPE": (10 / 12 + 1) / 2, "SEN": 0.75})


def test_empty_image_conventions():
    empty = np.zeros((3, 3), bool)
    s = scores(confusion(empty, empty))
    assert s["mIoU"] == 1 and s["DSC"] == 1 and s["SPE"] == 1 and math.isnan(s["SEN"])
    cs = [confusion(*hand_case_a()), confusion(empty, empty)]
    assert mean_image_scores(cs)["SEN"] == pytest.approx(0.5)  # the undefined SEN is left out
