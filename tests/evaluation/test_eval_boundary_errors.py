"""s3mamba analyze boundary-errors (analysis/boundary_errors.py): how far from the lesion outline each error pixel lies, and what fixing them gives."""
import numpy as np
import pytest

from nnunetv2_s3mamba.analysis.boundary_errors import band_counts, error_distances, stratum_summary


def test_errors_are_binned_by_their_distance_to_the_outline_and_false_alarms_counted():
    gt = np.zeros((40, 60), bool)
    gt[10:20, 10:20] = True
    pred = gt.copy()
    pred[10:20, 20] = True            # 10 false positives right against the outline (1 px)
    pred[30:33, 40:43] = True         # 9 false positives in a component that touches no lesion, > 8 px away
    pred[14:16, 14:16] = False        # 4 false negatives 5 px deep inside the lesion
    fp, fn, false_alarms, largest_is_false_alarm = error_distances(pred, gt)
    assert band_counts(fp) == [10, 0, 0, 0, 9]
    assert band_counts(fn) == [0, 0, 0, 4, 0]
    assert false_alarms == 9
    assert not largest_is_false_alarm                                    # the lesion's component is the larger
    blob = np.zeros_like(gt)
    blob[25:40, 30:55] = True                                            # a false region larger than the lesion
    assert error_distances(pred | blob, gt)[3]
    assert not error_distances(np.zeros_like(gt), gt)[3]
    summary = stratum_summary(int((pred & gt).sum()), band_counts(fp), band_counts(fn), false_alarms, 1)
    assert summary["frames_whose_largest_component_is_a_false_alarm"] == 1
    assert summary["iou"] == pytest.approx(100 * 96 / 119, abs=0.01)
    assert summary["iou_without_false_alarm_components"] == pytest.approx(100 * 96 / 110, abs=0.01)
    fixed = summary["iou_if_errors_within_fixed"]
    assert fixed["<=1px"] == pytest.approx(100 * 96 / 109, abs=0.01)      # the ring gone
    assert fixed["<=8px"] == pytest.approx(100 * 100 / 109, abs=0.01)     # and the hole filled; the blob stays


def test_band_edges_belong_to_the_nearer_band():
    assert band_counts(np.array([1.0, 1.5, 2.0, 2.2, 4.0, 8.0, 8.1, np.inf])) == [1, 2, 2, 1, 2]
