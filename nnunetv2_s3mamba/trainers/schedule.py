"""Training length from class attributes, and the cosine learning-rate schedule (the paper: AdamW, lr 1e-4)."""
from __future__ import annotations

import math

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import _LRScheduler


def apply_class_schedule(trainer: Any) -> None:
    """Copy a variant's `epochs` / `iterations_per_epoch` / `val_iterations_per_epoch` class attributes onto the
    fields nnU-Net's `__init__` just set, so that a schedule variant is a one-line subclass."""
    trainer.num_epochs = trainer.epochs
    trainer.num_iterations_per_epoch = trainer.iterations_per_epoch
    trainer.num_val_iterations_per_epoch = trainer.val_iterations_per_epoch


class CosineLRScheduler(_LRScheduler):
    """Half-cosine from `initial_lr` to `min_lr` over `max_steps`, evaluated in closed form.

    nnU-Net calls `step(current_epoch)` at every epoch start, including after `--c` resumes, so the rate must be a
    pure function of the epoch (torch's CosineAnnealingLR is recursive and deprecates the epoch argument).
    """

    def __init__(self, optimizer: Optimizer, initial_lr: float, max_steps: int, min_lr: float = 0.0):
        self.initial_lr = initial_lr
        self.max_steps = max(1, max_steps)
        self.min_lr = min_lr
        self.ctr = 0
        super().__init__(optimizer, -1)

    def lr_at(self, step: int) -> float:
        progress = min(max(step, 0), self.max_steps) / self.max_steps
        return self.min_lr + 0.5 * (self.initial_lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def step(self, current_step: int | None = None) -> None:
        if current_step is None or current_step == -1:
            current_step = self.ctr
            self.ctr += 1
        new_lr = self.lr_at(current_step)
        for group in self.optimizer.param_groups:
            group["lr"] = new_lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
