"""The per-sample difficulty signal is nnU-Net's own loss evaluated on each sample alone."""
import numpy as np
import pytest
import torch
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

from nnunetv2_s3mamba.curriculum.sample_loss import per_sample_loss


def nnunet_loss(batch_dice, ignore_label=None):
    return DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                          weight_ce=1, weight_dice=1, ignore_label=ignore_label,
                          dice_class=MemoryEfficientSoftDiceLoss)


@pytest.mark.parametrize("ignore_label", [None, 3])
def test_matches_nnunet_loss_per_sample_with_deep_supervision(ignore_label):
    torch.manual_seed(0)
    weights = [4 / 7, 2 / 7, 1 / 7, 0.0]
    loss = DeepSupervisionWrapper(nnunet_loss(True, ignore_label), weights)
    outputs = [torch.randn(3, 3, s, s) for s in (16, 8, 4, 2)]
    targets = [torch.randint(0, 3 if ignore_label is None else 4, (3, 1, s, s)).float() for s in (16, 8, 4, 2)]
    ours = per_sample_loss(outputs, targets, weights, ignore_label=ignore_label)
    theirs = [loss([o[i:i + 1] for o in outputs], [t[i:i + 1] for t in targets]).item() for i in range(3)]
    assert ours.shape == (3,)
    assert np.allclose(ours.numpy(), theirs, atol=1e-5)


def test_matches_nnunet_region_loss():
    torch.manual_seed(1)
    loss = DC_and_BCE_loss({}, {"batch_dice": False, "do_bg": True, "smooth": 1e-5, "ddp": False},
                           dice_class=MemoryEfficientSoftDiceLoss)
    logits = torch.randn(2, 2, 8, 8)
    target = torch.randint(0, 2, (2, 2, 8, 8)).float()
    ours = per_sample_loss(logits, target, None, has_regions=True)
    theirs = [loss(logits[i:i + 1], target[i:i + 1]).item() for i in range(2)]
    assert np.allclose(ours.numpy(), theirs, atol=1e-5)


def test_better_prediction_has_lower_loss_and_half_precision_is_safe():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    good = torch.stack([-5 * (1 - target[0, 0]) + 5 * target[0, 0], 5 * (1 - target[0, 0]) - 5 * target[0, 0]])
    logits = torch.stack([good.flip(0), good.flip(0)])
    logits[1] = logits[1].flip(0)  # sample 1 predicts the inverse
    losses = per_sample_loss(logits.half(), target, None)
    assert losses.dtype == torch.float32 and torch.isfinite(losses).all()
    assert losses[0] < losses[1]
