"""Difficulty Measurer (paper Fig. 2e): per-sample difficulty from lesion size, then from observed losses.

Paper: "We establish a Difficulty Measurer based on the size of the lesions. During training, we dynamically
update the Difficulty Measurer based on the loss values, assigning higher weights to samples with lower losses."

[ours] Difficulties are normalised ranks in [0, 1] (1 = hardest), never raw values, because the paper's rank
function F_rank is scale-free: lesion areas span orders of magnitude and nnU-Net's Dice+CE loss is negative and
dataset dependent. The size prior and the loss evidence are blended per sample with a confidence that grows with
the number of times the sample has been seen, so unseen samples keep their size prior and a sample seen once
does not overturn it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import rankdata

NEUTRAL_DIFFICULTY = 0.5


def normalised_rank(values: np.ndarray) -> np.ndarray:
    """Ranks mapped to [0, 1] (smallest value -> 0); ties share their average rank; one value -> 0.5."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    if values.size == 1:
        return np.full(1, NEUTRAL_DIFFICULTY)
    return (rankdata(values, method="average") - 1.0) / (values.size - 1.0)


def size_difficulty(lesion_sizes: np.ndarray) -> np.ndarray:
    """Small lesion -> hard (1), large -> easy (0). Samples without lesion are neither: neutral 0.5."""
    sizes = np.asarray(lesion_sizes)
    difficulty = np.full(sizes.shape, NEUTRAL_DIFFICULTY, dtype=np.float64)
    non_empty = sizes > 0
    if non_empty.any():
        difficulty[non_empty] = 1.0 - normalised_rank(sizes[non_empty])
    return difficulty


class DifficultyMeasurer:
    """Holds the size prior and an exponential moving average of each sample's loss."""

    def __init__(self, lesion_sizes: np.ndarray, loss_momentum: float = 0.9, confidence_count: float = 2.0):
        if not 0.0 <= loss_momentum < 1.0:
            raise ValueError(f"loss_momentum must be in [0, 1), got {loss_momentum}")
        if confidence_count <= 0:
            raise ValueError(f"confidence_count must be > 0, got {confidence_count}")
        self.prior = size_difficulty(lesion_sizes)
        self.loss_momentum = loss_momentum
        self.confidence_count = confidence_count
        self.loss_ema = np.zeros(len(self.prior), dtype=np.float64)
        self.seen = np.zeros(len(self.prior), dtype=np.int64)

    def observe(self, rows: Sequence[int], losses: Sequence[float]) -> int:
        """Fold one epoch's per-sample losses into the averages; non-finite losses are dropped.

        Losses of a sample drawn several times in the epoch are averaged first, so the result does not depend
        on the order in which ranks or batches reported them. Returns the number of losses used.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        losses = np.asarray(losses, dtype=np.float64).reshape(-1)
        if rows.shape != losses.shape:
            raise ValueError(f"{rows.size} sample rows but {losses.size} losses")
        finite = np.isfinite(losses)
        rows, losses = rows[finite], losses[finite]
        if rows.size == 0:
            return 0
        totals = np.zeros_like(self.loss_ema)
        counts = np.zeros_like(self.seen)
        np.add.at(totals, rows, losses)
        np.add.at(counts, rows, 1)
        observed = counts > 0
        epoch_mean = totals[observed] / counts[observed]
        first = self.seen[observed] == 0
        self.loss_ema[observed] = np.where(
            first, epoch_mean, self.loss_momentum * self.loss_ema[observed] + (1 - self.loss_momentum) * epoch_mean)
        self.seen += counts
        return int(rows.size)

    def difficulty(self) -> np.ndarray:
        """d_i = (1 - c_i) * size prior + c_i * loss rank among seen samples, c_i = n_i / (n_i + n0)."""
        difficulty = self.prior.copy()
        seen = self.seen > 0
        if seen.any():
            confidence = self.seen[seen] / (self.seen[seen] + self.confidence_count)
            difficulty[seen] = (1 - confidence) * self.prior[seen] + confidence * normalised_rank(self.loss_ema[seen])
        return difficulty

    def state_dict(self) -> dict:
        return {"loss_ema": self.loss_ema.tolist(), "seen": self.seen.tolist()}

    def load_state_dict(self, state: dict) -> None:
        loss_ema = np.asarray(state["loss_ema"], dtype=np.float64)
        seen = np.asarray(state["seen"], dtype=np.int64)
        if loss_ema.shape != self.loss_ema.shape or seen.shape != self.seen.shape:
            raise ValueError(f"curriculum state holds {loss_ema.size} samples, this training set has "
                             f"{self.loss_ema.size}")
        self.loss_ema, self.seen = loss_ema, seen
