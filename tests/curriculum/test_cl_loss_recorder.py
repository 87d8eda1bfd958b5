"""The loss wrapper that lets the curriculum use nnU-Net's own train step unchanged."""
import numpy as np
import torch
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

from nnunetv2_s3mamba.curriculum.loss_recorder import SampleLossRecorder
from nnunetv2_s3mamba.curriculum.sample_loss import per_sample_loss


def _recorder() -> SampleLossRecorder:
    loss = DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {}, weight_ce=1,
                          weight_dice=1, ignore_label=None, dice_class=MemoryEfficientSoftDiceLoss)
    return SampleLossRecorder(DeepSupervisionWrapper(loss, [0.6, 0.4]), has_regions=False, ignore_label=None)


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    target = [torch.randint(0, 2, (3, 1, 8, 8), generator=generator).float(),
              torch.randint(0, 2, (3, 1, 4, 4), generator=generator).float()]
    return target


def test_value_is_nnunet_loss_and_sample_losses_are_recorded():
    recorder, target = _recorder(), _batch()
    output = [torch.randn(3, 2, 8, 8, requires_grad=True), torch.randn(3, 2, 4, 4, requires_grad=True)]
    value = recorder(output, target)
    assert torch.equal(value, recorder.loss(output, target)) and value.requires_grad
    assert not recorder.skipped
    assert torch.allclose(recorder.sample_losses, per_sample_loss(output, target, [0.6, 0.4]))


def test_non_finite_loss_on_cpu_leaves_weights_unchanged_through_a_plain_step():
    recorder, target = _recorder(), _batch()
    layer = torch.nn.Conv2d(2, 2, 1)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in layer.parameters()]
    x = torch.randn(3, 2, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    output = [layer(x), layer(x[..., ::2, ::2])]
    value = recorder(output, target)          # nnU-Net's CPU step: backward, clip, step
    value.backward()
    torch.nn.utils.clip_grad_norm_(layer.parameters(), 12)
    optimizer.step()
    assert recorder.skipped and recorder.sample_losses is None
    assert all(torch.equal(b, p) for b, p in zip(before, layer.parameters()))


def test_validation_passes_through_without_recording():
    recorder, target = _recorder(), _batch()
    with torch.no_grad():
        value = recorder([torch.randn(3, 2, 8, 8), torch.randn(3, 2, 4, 4)], target)
    assert np.isfinite(value.item()) and recorder.sample_losses is None
