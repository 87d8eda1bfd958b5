"""S3MambaNet: shapes, deep supervision, gradients, ablation switches, TCMA's effect, mixed precision."""
import pytest
import torch

from nnunetv2_s3mamba.architectures import S3MAMBA_PRESETS, S3MambaNet, build_s3mamba

TINY = dict(dims=(8, 16, 32, 64), tcma_channels=4, tcma_mlp_hidden=8, drop_path_rate=0.0)


def tiny_net(input_channels=3, num_classes=2, **kwargs) -> S3MambaNet:
    torch.manual_seed(0)
    return S3MambaNet(input_channels, num_classes, **{**TINY, **kwargs})


@pytest.mark.parametrize("in_ch,classes,size", [(1, 2, (32, 32)), (3, 3, (64, 96)), (3, 2, (45, 70)), (1, 3, (33, 17))])
def test_output_shapes_with_and_without_deep_supervision(in_ch, classes, size):
    net = tiny_net(in_ch, classes, deep_supervision=True).eval()
    x = torch.randn(2, in_ch, *size)
    with torch.no_grad():
        outputs = net(x)
        net.deep_supervision = False
        single = net(x)
    assert single.shape == (2, classes, *size)
    assert len(outputs) == len(net.deep_supervision_scales) == 4
    for out, scale in zip(outputs, net.deep_supervision_scales):
        expected = tuple(-(-s * scale // 1) for s in size)
        assert out.shape == (2, classes, *map(int, expected))
    torch.testing.assert_close(outputs[0], single)


def test_deep_supervision_scales_match_output_sizes_for_multiples_of_32():
    net = tiny_net(deep_supervision=True).eval()
    assert net.deep_supervision_scales == [1.0, 0.25, 0.125, 0.0625]
    assert S3MambaNet.required_divisor == 32
    with torch.no_grad():
        outputs = net(torch.randn(1, 3, 64, 96))
    expected = [(round(64 * s), round(96 * s)) for s in net.deep_supervision_scales]
    assert [tuple(o.shape[-2:]) for o in outputs] == expected


def test_state_dict_identical_with_and_without_deep_supervision():
    with_ds, without_ds = tiny_net(deep_supervision=True), tiny_net(deep_supervision=False)
    assert list(with_ds.state_dict()) == list(without_ds.state_dict())
    without_ds.load_state_dict(with_ds.state_dict(), strict=True)


def test_sides_not_multiple_of_32_are_zero_padded_inside_and_cropped_back():
    net = tiny_net().eval()
    x = torch.randn(1, 3, 50, 61)
    padded = torch.nn.functional.pad(x, (0, 64 - 61, 0, 64 - 50))
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(padded)[..., :50, :61])


def test_gradients_reach_every_parameter():
    net = tiny_net(deep_supervision=True).train()
    outputs = net(torch.randn(2, 3, 64, 64))
    sum(o.pow(2).mean() for o in outputs).backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []
    names = [n for n, _ in net.named_parameters()]
    assert any(n.startswith("tcma.weight_mlps") for n in names) and any(".encf." in n for n in names)


def test_gradients_are_laid_out_like_their_parameters():
    """DDP's gradient buckets assume each gradient has its parameter's strides; otherwise it copies every step and
    warns ("Grad strides do not match bucket view strides"), as a 1x1 convolution on a permuted view did (on
    CUDA, and on CPUs with more than one thread, hence two threads here)."""
    torch.set_num_threads(2)  # the fixture restores the thread count
    net = tiny_net(deep_supervision=True).train()
    sum(o.pow(2).mean() for o in net(torch.randn(2, 3, 64, 64))).backward()
    assert [n for n, p in net.named_parameters() if p.grad.stride() != p.stride()] == []


def test_final_projection_equals_the_1x1_convolution():
    net = tiny_net(deep_supervision=False, use_tcma=False).eval()
    features = torch.randn(2, 16, 24, net.final_conv.in_channels)
    as_linear = torch.nn.functional.linear(features, net.final_conv.weight.flatten(1), net.final_conv.bias)
    torch.testing.assert_close(as_linear.permute(0, 3, 1, 2), net.final_conv(features.permute(0, 3, 1, 2)))


def test_tcma_reaches_inference_logits_without_deep_supervision():
    net = tiny_net(deep_supervision=False).eval()
    net(torch.randn(2, 3, 64, 64)).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.tcma.parameters())


def test_ablation_switches_change_parameter_sets():
    def names(**switches):
        return {n for n, _ in tiny_net(**switches).named_parameters()}
    full, no_encf, no_tcma, baseline = (names(), names(use_encf=False), names(use_tcma=False),
                                        names(use_encf=False, use_tcma=False))
    encf_parts = {n for n in full if any(s in n for s in (".encf.", ".ln_2.", ".skip_scale2"))}
    tcma_parts = {n for n in full if n.startswith("tcma.")}
    assert encf_parts and tcma_parts
    assert no_encf == full - encf_parts
    assert no_tcma == full - tcma_parts
    assert baseline == full - encf_parts - tcma_parts
    # The baseline is the VM-UNet layout without DWConv: no depthwise conv anywhere, ever.
    assert not any("conv2d" in n for n in full)
    assert {n for n in baseline if n.startswith("level_heads.")}, "deep-supervision heads exist without TCMA too"


def test_turning_tcma_off_changes_inference_logits():
    with_tcma = tiny_net().eval()
    without_tcma = tiny_net(use_tcma=False).eval()
    missing, unexpected = without_tcma.load_state_dict(with_tcma.state_dict(), strict=False)
    assert missing == [] and all(k.startswith("tcma.") for k in unexpected)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        difference = (with_tcma(x) - without_tcma(x)).abs().max()
    assert difference > 1e-4


def test_encf_block_changes_features():
    with_encf = tiny_net().eval()
    without = tiny_net(use_encf=False).eval()
    without.load_state_dict(with_encf.state_dict(), strict=False)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (with_encf(x) - without(x)).abs().max() > 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_no_nan_under_cpu_autocast_with_large_activations(dtype):
    net = tiny_net(deep_supervision=True).train()
    x = torch.randn(2, 3, 64, 64) * 300.0
    with torch.autocast("cpu", dtype=dtype):
        outputs = net(x)
        loss = sum(o.float().pow(2).mean() for o in outputs)
    loss.backward()
    assert outputs[0].dtype == dtype, "autocast was not active: the test would prove nothing"
    assert all(torch.isfinite(o).all() for o in outputs)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_build_from_presets_and_overrides():
    assert set(S3MAMBA_PRESETS) >= {"vmamba-s", "small"}
    assert S3MAMBA_PRESETS["vmamba-s"]["dims"] == (96, 192, 384, 768)
    net = build_s3mamba("small", 1, 2, deep_supervision=True, use_encf=False, use_tcma=True, **TINY)
    assert net.deep_supervision is True and net.use_encf is False and net.use_tcma is True
    assert net.patch_embed.proj.in_channels == 1 and net.final_conv.out_channels == 2
    with pytest.raises(ValueError, match="vmamba-s"):
        build_s3mamba("huge", 3, 2, False)
    with pytest.raises(AssertionError, match="double"):
        S3MambaNet(3, 2, dims=(8, 16, 24, 64))
    with pytest.raises(AssertionError, match="scan_backend"):
        S3MambaNet(3, 2, dims=(8, 16, 32, 64), scan_backend="cuda")


def test_weights_of_another_variant_give_an_actionable_error():
    full = build_s3mamba("small", 3, 2, deep_supervision=False, dims=(8, 16, 32, 64))
    baseline = build_s3mamba("small", 3, 2, deep_supervision=False, use_encf=False, use_tcma=False,
                             dims=(8, 16, 32, 64))
    with pytest.raises(RuntimeError, match=r"use_encf=False, use_tcma=False.*-tr"):
        baseline.load_state_dict(full.state_dict())
    baseline.load_state_dict(baseline.state_dict())


def test_tcma_full_resolution_batch_norms_see_channels_last_features():
    """Their NCHW kernels run one block per channel (8 here): slow on a GPU at full resolution (tcma.py)."""
    net = tiny_net()
    layouts = []
    for module in (net.tcma.image_embed[1], net.tcma.image_embed[4], net.tcma.edge_embed[1]):
        module.register_forward_hook(lambda m, args, out: layouts.append(
            args[0].is_contiguous(memory_format=torch.channels_last) and args[0].stride(1) == 1))
    net(torch.randn(2, 3, 64, 96))
    assert layouts == [True, True, True]



def test_full_resolution_tcma_gates_the_head_logits_pixel_by_pixel():
    """`tcma_full_resolution`: the head's logits are a fourth TCMA level at the (padded) input resolution, and what
    TCMA returns for them is those logits times a per-pixel gate in (0, 2) (eq. 5), not a copy."""
    net = tiny_net(tcma_full_resolution=True).eval()
    seen = {}
    net.tcma.register_forward_hook(lambda m, args, out: seen.update(levels=list(args[1]), modulated=list(out)))
    with torch.no_grad():
        net(torch.randn(2, 3, 50, 61))
    head, gated = seen["levels"][-1], seen["modulated"][-1]
    assert len(seen["levels"]) == 4 and head.shape == (2, 64, 64, 2)
    gate = gated / head
    assert ((gate > 0) & (gate < 2)).all()
    assert gate.std() > 1e-4, "the gate varies from pixel to pixel"


def test_full_resolution_tcma_adds_one_level_of_weights_that_reaches_the_output():
    full_res = tiny_net(tcma_full_resolution=True).eval()
    default = tiny_net().eval()
    missing, unexpected = default.load_state_dict(full_res.state_dict(), strict=False)
    assert missing == [] and unexpected and all(k.startswith("tcma.weight_mlps.3.") for k in unexpected)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (full_res(x) - default(x)).abs().max() > 1e-4
    full_res(x).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in full_res.tcma.weight_mlps[3].parameters())
    assert tiny_net(tcma_full_resolution=True, use_tcma=False).tcma is None
