"""The paper's lesion-size strata, defined once for the split, the curriculum and the evaluation.

Paper ("Datasets"): sort the lesions by pixel count, smallest first; the smallest 30% are *small*, 30-60%
*medium*, 60% and above *large*. The paper states no tie rule. Ours makes the stratum a function of the size
alone, so equal sizes always share a stratum and a size never seen in the ranking (a lesion in a prediction, a new
case) can be placed with the same thresholds:

- the ranking fixes two thresholds, the sizes at the 30% and 60% rank positions (position = share * n rounded
  half up, counted from 1; positions below 1 take the smallest size);
- small <= small_max < medium <= medium_max < large, so sizes tied with a boundary size join the lower stratum
  (which then holds more than its share, and a stratum may be empty when many sizes tie).

What a size is (pixels of a case's label, of one 2D sample, of one connected component) is the caller's choice;
the caller also chooses which sizes are ranked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nnunetv2_s3mamba.errors import UserError

STRATA = ("small", "medium", "large")
SMALL_SHARE = 0.3  # the smallest 30% of the ranked sizes are small
SMALL_OR_MEDIUM_SHARE = 0.6  # the smallest 60% are small or medium; the rest is large
STRATUM_BOUNDS = (SMALL_SHARE, SMALL_OR_MEDIUM_SHARE)


@dataclass(frozen=True)
class StratumThresholds:
    """Largest size that is still small, and largest size that is still medium (both inclusive)."""

    small_max: float
    medium_max: float


def round_half_up(x: float) -> int:
    """Python's round() rounds halves to even; a stratum's count must not depend on that parity."""
    return int(math.floor(x + 0.5))


def stratum_thresholds(sizes: Sequence[float] | np.ndarray,
                       bounds: Sequence[float] = STRATUM_BOUNDS) -> StratumThresholds:
    """Thresholds from the ranked `sizes`: the sizes at the `bounds` rank positions (paper: 30% and 60%)."""
    ranked = np.sort(np.asarray(sizes).reshape(-1))
    if ranked.size == 0:
        raise UserError("size strata need at least one size to rank, got none.")
    low, high = bounds
    if not 0 < low < high < 1:
        raise UserError(f"stratum bounds must satisfy 0 < low < high < 1, got {tuple(bounds)}.")
    small_end, medium_end = (max(round_half_up(share * ranked.size), 1) for share in (low, high))
    return StratumThresholds(ranked[small_end - 1].item(), ranked[medium_end - 1].item())


def size_stratum(sizes: float | Sequence[float] | np.ndarray, thresholds: StratumThresholds) -> str | np.ndarray:
    """Stratum name of one size (a str), or of every size in an array (an array of str, same shape)."""
    values = np.asarray(sizes)
    names = np.where(values <= thresholds.small_max, STRATA[0],
                     np.where(values <= thresholds.medium_max, STRATA[1], STRATA[2]))
    return str(names) if names.ndim == 0 else names
