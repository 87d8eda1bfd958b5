"""Per-sample value of nnU-Net's training loss, the Difficulty Measurer's evidence.

nnU-Net's loss (Dice + CE, or Dice + BCE for regions, summed over deep-supervision outputs) computes its Dice over
the whole batch when the plans set `batch_dice`, so the batch loss cannot be split into per-sample parts, and
under DDP that Dice all-gathers across ranks. The difficulty signal therefore evaluates the same terms - same
nonlinearity, same smoothing, same deep-supervision weights, background excluded from the softmax Dice, ignore
label masked - for each sample on its own, without gradients and without collectives. It is never optimised.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def _soft_dice_per_sample(probabilities: torch.Tensor, onehot: torch.Tensor, mask: Optional[torch.Tensor],
                          smooth: float) -> torch.Tensor:
    axes = tuple(range(2, probabilities.ndim))
    if mask is not None:
        probabilities, onehot = probabilities * mask, onehot * mask
    intersect = (probabilities * onehot).sum(axes)
    denominator = (probabilities.sum(axes) + onehot.sum(axes) + smooth).clamp_min(1e-8)
    return ((2 * intersect + smooth) / denominator).mean(1)


def _label_loss(logits: torch.Tensor, target: torch.Tensor, ignore_label: Optional[int],
                smooth: float) -> torch.Tensor:
    labels = target[:, 0].long()
    mask = None if ignore_label is None else (labels != ignore_label)
    labels_clean = labels if mask is None else torch.where(mask, labels, 0)
    ce = F.cross_entropy(logits, labels_clean, reduction="none")
    if mask is None:
        ce = ce.flatten(1).mean(1)
    else:
        ce = (ce * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)
    onehot = F.one_hot(labels_clean, logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    dice = _soft_dice_per_sample(torch.softmax(logits, 1)[:, 1:], onehot[:, 1:],
                                 None if mask is None else mask[:, None].to(logits.dtype), smooth)
    return ce - dice


def _region_loss(logits: torch.Tensor, target: torch.Tensor, has_ignore: bool, smooth: float) -> torch.Tensor:
    target = target.to(logits.dtype)
    mask = None
    if has_ignore:
        mask, target = 1 - target[:, -1:], target[:, :-1]
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if mask is None:
        bce = bce.flatten(1).mean(1)
    else:
        bce = (bce * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * logits.shape[1]).clamp_min(1)
    return bce - _soft_dice_per_sample(torch.sigmoid(logits), target, mask, smooth)


@torch.no_grad()
def per_sample_loss(outputs: Outputs, targets: Outputs, deep_supervision_weights: Optional[Sequence[float]],
                    has_regions: bool = False, ignore_label: Optional[int] = None,
                    smooth: float = 1e-5) -> torch.Tensor:
    """Loss of each sample, shape (batch,), float32; `outputs`/`targets` as nnU-Net's loss receives them."""
    if isinstance(outputs, torch.Tensor):
        outputs, targets, deep_supervision_weights = [outputs], [targets], [1.0]
    if deep_supervision_weights is None:
        deep_supervision_weights = [1.0] * len(outputs)
    total = None
    for weight, logits, target in zip(deep_supervision_weights, outputs, targets):
        if weight == 0:
            continue
        logits = logits.float()
        loss = _region_loss(logits, target, ignore_label is not None, smooth) if has_regions \
            else _label_loss(logits, target, ignore_label, smooth)
        total = weight * loss if total is None else total + weight * loss
    return total
