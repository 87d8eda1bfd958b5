"""A progress line inside long training epochs.

nnU-Net logs only at epoch boundaries; on a CPU one epoch of 250 iterations is several minutes of silence that
looks like a hang. `EpochProgressMixin` adds one log line every `progress_every_iterations` iterations or every
`progress_every_seconds`, whichever is rarer (both must have passed), through nnU-Net's own `print_to_log_file`
(console and `training_log_*.txt`), on rank 0 only under DDP. The rule lives in `IterationProgress`, which takes
its clock as an argument so that tests need no sleeping.
"""
from __future__ import annotations

import time
from typing import Callable

__all__ = ["EpochProgressMixin", "IterationProgress"]


class IterationProgress:
    """Decides when one epoch's progress line is due and what it says."""

    def __init__(self, epoch: int, total: int, every_iterations: int, every_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.epoch, self.total = epoch, total
        self.every_iterations, self.every_seconds = max(1, every_iterations), every_seconds
        self.clock = clock
        self.start = self.last_time = clock()
        self.done = self.last_done = 0

    def step(self) -> str | None:
        """Count one finished iteration; the line to log when one is due, else None (never after the last one:
        nnU-Net's epoch summary follows immediately)."""
        self.done += 1
        now = self.clock()
        due = (self.done - self.last_done >= self.every_iterations and now - self.last_time >= self.every_seconds
               and self.done < self.total)
        if not due:
            return None
        self.last_done, self.last_time = self.done, now
        seconds_per_iteration = (now - self.start) / self.done
        eta = seconds_per_iteration * (self.total - self.done)
        eta_text = f"{eta / 60:.0f} min" if eta >= 60 else f"{eta:.0f} s"
        return (f"epoch {self.epoch}: iteration {self.done}/{self.total}, {seconds_per_iteration:.1f} s/it, "
                f"ETA {eta_text}")

class EpochProgressMixin:
    """Put before an nnUNetTrainer subclass: progress lines inside the training epoch (see the module docstring)."""

    progress_every_iterations: int = 50
    progress_every_seconds: float = 30.0

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._epoch_progress = IterationProgress(self.current_epoch, self.num_iterations_per_epoch,
                                                 self.progress_every_iterations, self.progress_every_seconds)

    def train_step(self, batch: dict) -> dict:
        result = super().train_step(batch)
        progress = getattr(self, "_epoch_progress", None)  # None where train_step is called outside the loop
        if self.local_rank == 0 and progress is not None:
            line = progress.step()
            if line is not None:
                self.print_to_log_file(line)
        return result
