"""The paper's size strata: thresholds at the 30%/60% rank positions, equal sizes in one stratum, lower on ties."""
from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_s3mamba.data.strata import STRATA, StratumThresholds, size_stratum, stratum_thresholds
from nnunetv2_s3mamba.errors import UserError


def test_thresholds_are_the_sizes_at_the_30_and_60_percent_rank_positions():
    sizes = np.arange(10, 110, 10)[::-1]  # 100, 90, ..., 10: the ranking sorts them
    assert stratum_thresholds(sizes) == StratumThresholds(small_max=30, medium_max=60)


@pytest.mark.parametrize("size, stratum", [
    (0, "small"), (29, "small"), (30, "small"), (31, "medium"),
    (59, "medium"), (60, "medium"), (61, "large"), (10**9, "large"),
])
def test_each_threshold_is_the_largest_size_of_its_stratum(size, stratum):
    thresholds = StratumThresholds(small_max=30, medium_max=60)
    assert size_stratum(size, thresholds) == stratum


def test_an_array_maps_elementwise_and_keeps_its_shape():
    names = size_stratum(np.array([[30, 31], [60, 61]]), StratumThresholds(30, 60))
    assert names.shape == (2, 2) and names.tolist() == [["small", "medium"], ["medium", "large"]]


@pytest.mark.parametrize("n, counts", [(5, (2, 1, 2)), (7, (2, 2, 3)), (15, (5, 4, 6)), (100, (30, 30, 40))])
def test_rank_positions_round_half_up(n, counts):
    names = size_stratum(np.arange(n), stratum_thresholds(np.arange(n)))
    assert tuple(int((names == s).sum()) for s in STRATA) == counts


def test_sizes_tied_with_a_boundary_size_join_the_lower_stratum():
    sizes = [1, 2, 3, 3, 3, 3, 7, 8, 9, 10]  # the 3rd (30%) and 6th (60%) sizes are the same 3
    names = size_stratum(sizes, stratum_thresholds(sizes)).tolist()
    assert names == ["small"] * 6 + ["large"] * 4  # medium is empty: every size up to 3 is small
    assert size_stratum([5, 5, 5], stratum_thresholds([5, 5, 5])).tolist() == ["small"] * 3


def test_few_sizes_start_at_the_smallest():
    assert size_stratum([4], stratum_thresholds([4])).tolist() == ["small"]
    assert size_stratum([4, 9], stratum_thresholds([4, 9])).tolist() == ["small", "large"]


@pytest.mark.parametrize("sizes, bounds", [([], (0.3, 0.6)), ([1, 2, 3], (0.6, 0.3)), ([1, 2, 3], (0.0, 0.6))])
def test_no_sizes_or_bad_bounds_are_user_errors(sizes, bounds):
    with pytest.raises(UserError):
        stratum_thresholds(sizes, bounds)
