"""Training Scheduler (paper eqs. 6-7, Fig. 2e): sample weights from the regularized objective, and lambda's pace.

The printed regulariser g(v) = lambda * sum 1/F_rank(l_i) + (1 - lambda) * sum v_i^2 has a first term that does
not depend on v, so eq. 6 is minimised by v = 0. [ours] The well-posed reading (derivation in docs/CURRICULUM.md):

    J_lambda(v) = sum_i v_i * (s_i(lambda) - 1) + (beta / 2) * sum_i v_i^2,   v in [v_min, 1]^N
    s_i(lambda) = lambda * d_i + (1 - lambda) * (1 - d_i)

with d_i in [0, 1] the Difficulty Measurer's rank-normalised difficulty. The linear term is eq. 6's v_i * l_i
with the loss replaced by the rank-based cost of selecting sample i, which lambda moves from "difficulty" (early:
easy samples are cheap) to "easiness" (late: hard samples are cheap); the quadratic is eq. 7's balance term.
J is separable and strictly convex, so its minimiser is the closed form in `solve_sample_weights`.
"""
from __future__ import annotations

import numpy as np


def selection_cost(difficulty: np.ndarray, lam: float) -> np.ndarray:
    """s_i(lambda): lambda = 1 charges hard samples, lambda = 0 charges easy ones, 0.5 charges all equally."""
    difficulty = np.asarray(difficulty, dtype=np.float64)
    return lam * difficulty + (1.0 - lam) * (1.0 - difficulty)


def regularized_objective(weights: np.ndarray, difficulty: np.ndarray, lam: float, balance: float) -> float:
    """J_lambda(v) above; exposed so tests can check that the closed form really minimises it."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(np.sum(weights * (selection_cost(difficulty, lam) - 1.0)) + 0.5 * balance * np.sum(weights ** 2))


def solve_sample_weights(difficulty: np.ndarray, lam: float, v_min: float, balance: float) -> np.ndarray:
    """argmin of J_lambda over [v_min, 1]^N: v_i = clip((1 - s_i) / beta, v_min, 1).

    A larger `balance` (beta) shrinks the spread of the weights; `v_min` > 0 keeps every sample drawable.
    """
    if not 0.0 < v_min <= 1.0:
        raise ValueError(f"v_min must be in (0, 1], got {v_min}")
    if balance <= 0:
        raise ValueError(f"balance must be > 0, got {balance}")
    return np.clip((1.0 - selection_cost(difficulty, lam)) / balance, v_min, 1.0)


class TrainingScheduler:
    """Moves lambda from 1 (easy first) to `lambda_end` (hard focus) as training progresses and the loss stabilises.

    Lambda never increases. Each epoch it falls at least to the linear time budget (so the shift ends after
    `ramp_fraction` of the epochs even if the loss never settles) and, when the epoch's mean loss changed by less
    than `stability_tolerance` (relative), one extra step earlier (paper: "as training progresses and loss
    stabilizes, the Training Scheduler shifts focus to difficult samples").
    """

    def __init__(self, lambda_end: float = 0.0, ramp_fraction: float = 0.5, stability_tolerance: float = 0.02):
        if not 0.0 <= lambda_end <= 1.0:
            raise ValueError(f"lambda_end must be in [0, 1], got {lambda_end}")
        if not 0.0 < ramp_fraction <= 1.0:
            raise ValueError(f"ramp_fraction must be in (0, 1], got {ramp_fraction}")
        self.lambda_end = lambda_end
        self.ramp_fraction = ramp_fraction
        self.stability_tolerance = stability_tolerance
        self.lam = 1.0
        self.previous_loss: float | None = None

    def _step_size(self, num_epochs: int) -> float:
        return (1.0 - self.lambda_end) / max(1.0, self.ramp_fraction * num_epochs)

    def step(self, epoch: int, num_epochs: int, epoch_mean_loss: float) -> bool:
        """Set lambda for epoch `epoch + 1`; returns whether the loss counted as stable. NaN loss: time budget only."""
        stable = False
        if np.isfinite(epoch_mean_loss):
            if self.previous_loss is not None:
                change = abs(epoch_mean_loss - self.previous_loss) / max(abs(self.previous_loss), 1e-8)
                stable = change < self.stability_tolerance
            self.previous_loss = float(epoch_mean_loss)
        step = self._step_size(num_epochs)
        on_time = 1.0 - step * (epoch + 1)
        self.lam = float(max(self.lambda_end, min(self.lam - (step if stable else 0.0), on_time)))
        return stable

    def state_dict(self) -> dict:
        return {"lam": self.lam, "previous_loss": self.previous_loss}

    def load_state_dict(self, state: dict) -> None:
        self.lam = float(state["lam"])
        self.previous_loss = None if state["previous_loss"] is None else float(state["previous_loss"])
