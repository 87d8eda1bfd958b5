"""`SampleLossRecorder`: nnU-Net's training loss, unchanged, plus what the curriculum needs from each step.

Wrapping the loss (instead of re-implementing nnU-Net's `train_step`) keeps nnU-Net's own step - autocast,
GradScaler, gradient clipping, optimiser - as it is. The wrapper
- returns nnU-Net's loss value untouched, so what is optimised does not change;
- remembers each sample's loss (the Difficulty Measurer's evidence; `per_sample_loss`, no gradients);
- leaves every weight unchanged when the loss is not finite: on CUDA nnU-Net always has a GradScaler, which sees
  the non-finite gradients and skips the optimiser step (under DDP the gradient all-reduce spreads them, so every
  rank skips together); on the CPU, without a scaler, the loss becomes a zero without a graph, so backward
  produces no gradients and the optimiser has nothing to apply.
Validation (no gradients) passes straight through.
"""
from __future__ import annotations

from typing import Optional

import torch
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from torch import nn

from nnunetv2_s3mamba.curriculum.sample_loss import per_sample_loss


class SampleLossRecorder(nn.Module):
    """See the module docstring. After each training call: `skipped` and `sample_losses` (batch,) or None."""

    def __init__(self, loss: nn.Module, has_regions: bool, ignore_label: Optional[int]) -> None:
        super().__init__()
        self.loss = loss
        self.has_regions = has_regions
        self.ignore_label = ignore_label
        self.skipped = False
        self.sample_losses: Optional[torch.Tensor] = None

    def forward(self, output, target) -> torch.Tensor:
        value = self.loss(output, target)
        if not torch.is_grad_enabled():
            return value
        self.skipped = not bool(torch.isfinite(value.detach()).all())
        if self.skipped:
            self.sample_losses = None
            return value if value.is_cuda else value.detach().new_zeros(()).requires_grad_()
        weights = self.loss.weight_factors if isinstance(self.loss, DeepSupervisionWrapper) else None
        self.sample_losses = per_sample_loss(output, target, weights, self.has_regions, self.ignore_label)
        return value
