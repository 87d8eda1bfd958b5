"""The regularized curriculum (paper Fig. 2e): Difficulty Measurer + Training Scheduler over one sample table.

The trainer records what each step drew and the per-sample losses it saw; at the end of an epoch the
observations of all ranks are gathered and every rank performs the same update, so the weights, lambda and the
history are identical everywhere and can be checkpointed from rank 0 alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from nnunetv2_s3mamba.curriculum.difficulty_measurer import DifficultyMeasurer
from nnunetv2_s3mamba.curriculum.distributed import gather_from_all_ranks
from nnunetv2_s3mamba.curriculum.lesion_size import SampleTable
from nnunetv2_s3mamba.curriculum.training_scheduler import TrainingScheduler, solve_sample_weights
from nnunetv2_s3mamba.data.strata import STRATA

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CurriculumConfig:
    """[ours] Hyper-parameters; the paper gives none. See docs/CURRICULUM.md for what each one trades off."""

    v_min: float = 0.2                  # no sample is ever dropped: every weight stays in [v_min, 1]
    balance: float = 1.0                # beta of the balance term: larger, the weights spread less
    lambda_end: float = 0.0             # lambda at the end of the shift from easy first (1) to hard focus
    ramp_fraction: float = 0.5          # the shift ends after this share of the epochs at the latest
    stability_tolerance: float = 0.02
    loss_momentum: float = 0.9
    confidence_count: float = 2.0


class RegularizedCurriculum:
    """Sample weights v in [v_min, 1] for one training set, updated once per epoch."""

    def __init__(self, table: SampleTable, config: CurriculumConfig = CurriculumConfig()):
        self.table = table
        self.config = config
        self.measurer = DifficultyMeasurer(table.lesion_sizes, config.loss_momentum, config.confidence_count)
        self.scheduler = TrainingScheduler(config.lambda_end, config.ramp_fraction, config.stability_tolerance)
        self.small = table.size_strata == "small"
        self.history: list = []
        self._reset_epoch_records()

    def _reset_epoch_records(self) -> None:
        self._rows: list = []
        self._losses: list = []
        self._drawn: list = []
        self._skipped_steps = 0

    def weights(self) -> np.ndarray:
        return solve_sample_weights(self.measurer.difficulty(), self.scheduler.lam, self.config.v_min,
                                    self.config.balance)

    def sampling_probabilities(self) -> np.ndarray:
        """p_i proportional to prior_i * v_i: sampling by p is eq. 6's weighted loss in expectation."""
        return self.sampling_probabilities_for(self.weights())

    def sampling_probabilities_for(self, weights: np.ndarray) -> np.ndarray:
        p = self.table.nnunet_prior() * weights
        return p / p.sum()

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Table rows of a batch's `keys`; an unknown key means the loader and the table disagree."""
        row_of = self.table.row_of
        try:
            return np.asarray([row_of[str(k)] for k in keys], dtype=np.int64)
        except KeyError as error:
            raise KeyError(f"batch key {error} is not a curriculum sample; the data loader must be the "
                           f"CurriculumDataLoader built from the same sample table") from None

    def record_step(self, keys: Sequence[str], losses: np.ndarray | None) -> None:
        """One training step: what was drawn, and its per-sample losses (None: the step was skipped)."""
        rows = self.rows(keys)
        self._drawn.extend(rows.tolist())
        if losses is None:
            self._skipped_steps += 1
            return
        losses = np.asarray(losses, dtype=np.float64).reshape(-1)
        if losses.size != rows.size:
            raise ValueError(f"{rows.size} batch keys but {losses.size} per-sample losses")
        self._rows.extend(rows.tolist())
        self._losses.extend(losses.tolist())

    def end_epoch(self, epoch: int, num_epochs: int,
                  gather: Callable[[object], list] = gather_from_all_ranks) -> dict:
        """Gather all ranks' records, update difficulty and lambda, append and return the epoch's history entry."""
        weights_used = self.weights()
        lam_used = self.scheduler.lam
        gathered = gather((self._rows, self._losses, self._drawn, self._skipped_steps))
        rows = np.asarray([r for g in gathered for r in g[0]], dtype=np.int64)
        losses = np.asarray([l for g in gathered for l in g[1]], dtype=np.float64)
        drawn = np.asarray([d for g in gathered for d in g[2]], dtype=np.int64)
        skipped = int(sum(g[3] for g in gathered))
        finite = np.isfinite(losses)
        used = self.measurer.observe(rows, losses)
        mean_loss = float(losses[finite].mean()) if finite.any() else float("nan")
        stable = self.scheduler.step(epoch, num_epochs, mean_loss)
        entry = {
            "epoch": int(epoch),
            "lambda": float(lam_used),
            "next_lambda": float(self.scheduler.lam),
            "loss_stable": bool(stable),
            "mean_sample_loss": mean_loss,
            "losses_used": used,
            "skipped_steps": skipped,
            "samples_drawn": int(drawn.size),
            "small_share_drawn": float(self.small[drawn].mean()) if drawn.size else float("nan"),
            "small_share_expected": float(self.sampling_probabilities_for(weights_used)[self.small].sum()),
            "weight_quantiles": np.quantile(weights_used, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]).tolist(),
            "weight_std": float(weights_used.std()),
            "stratum_mean_weight": self._stratum_means(weights_used),
        }
        self.history.append(entry)
        self._reset_epoch_records()
        return entry

    def _stratum_means(self, weights: np.ndarray) -> dict:
        """Mean weight of each of the paper's size strata that has samples (samples without lesion left out)."""
        strata = self.table.size_strata
        return {name: float(weights[strata == name].mean()) for name in STRATA if (strata == name).any()}

    def summary_line(self) -> str:
        """One log line with the schedule state that the coming epoch will sample with."""
        v = self.weights()
        last = self.history[-1] if self.history else None
        drawn = "n/a" if last is None else f"{last['small_share_drawn']:.3f}"
        return (f"Curriculum: lambda={self.scheduler.lam:.3f} weights min/median/max="
                f"{v.min():.3f}/{np.median(v):.3f}/{v.max():.3f} std={v.std():.3f} "
                f"small-lesion share expected={self.sampling_probabilities()[self.small].sum():.3f} "
                f"drawn last epoch={drawn} samples={len(v)}")

    def state_dict(self) -> dict:
        return {
            "format_version": STATE_FORMAT_VERSION,
            "config": asdict(self.config),
            "sample_ids": list(self.table.sample_ids),
            "lesion_sizes": self.table.lesion_sizes.tolist(),
            "measurer": self.measurer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpointed curriculum; refuses one from a different training set instead of misaligning."""
        if state.get("format_version") != STATE_FORMAT_VERSION:
            raise ValueError(f"unsupported curriculum state version {state.get('format_version')!r}")
        if list(state["sample_ids"]) != list(self.table.sample_ids):
            raise ValueError("the checkpoint's curriculum was built on different training samples (split or "
                             "preprocessing changed). Continue with the original split, or start a new training.")
        self.measurer.load_state_dict(state["measurer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        self._reset_epoch_records()
