"""load_vmamba_pretrained with synthetic VMamba-S v0 checkpoints (key names and shapes written out here from the
VMamba v0 layout, independently of our network)."""
import math

import pytest
import torch

from nnunetv2_s3mamba.architectures import S3MambaNet, load_vmamba_pretrained
from nnunetv2_s3mamba.architectures.pretrained import PretrainedMismatchError

DIM = 8
N_STATE = 4


def vmamba_v0_state_dict(dim=DIM, depths=(2, 2, 5, 2), n_state=N_STATE, num_classes=10, seed=0):
    """A VMamba v0 classifier's state dict: patch_embed, layers.i.{blocks.j.{ln_1,self_attention},downsample}, norm,
    head. Includes the SS2D depthwise conv (conv2d) that EnVSS removes."""
    g = torch.Generator().manual_seed(seed)
    sd = {"patch_embed.proj.weight": (dim, 3, 4, 4), "patch_embed.proj.bias": (dim,),
          "patch_embed.norm.weight": (dim,), "patch_embed.norm.bias": (dim,)}
    for i, depth in enumerate(depths):
        c = dim * 2 ** i
        di, rank = 2 * c, math.ceil(c / 16)
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}."
            sd.update({p + "ln_1.weight": (c,), p + "ln_1.bias": (c,),
                       p + "self_attention.in_proj.weight": (2 * di, c),
                       p + "self_attention.conv2d.weight": (di, 1, 3, 3), p + "self_attention.conv2d.bias": (di,),
                       p + "self_attention.x_proj_weight": (4, rank + 2 * n_state, di),
                       p + "self_attention.dt_projs_weight": (4, di, rank),
                       p + "self_attention.dt_projs_bias": (4, di),
                       p + "self_attention.A_logs": (4 * di, n_state), p + "self_attention.Ds": (4 * di,),
                       p + "self_attention.out_norm.weight": (di,), p + "self_attention.out_norm.bias": (di,),
                       p + "self_attention.out_proj.weight": (c, di)})
        if i < len(depths) - 1:
            sd.update({f"layers.{i}.downsample.reduction.weight": (2 * c, 4 * c),
                       f"layers.{i}.downsample.norm.weight": (4 * c,), f"layers.{i}.downsample.norm.bias": (4 * c,)})
    last = dim * 2 ** (len(depths) - 1)
    sd.update({"norm.weight": (last,), "norm.bias": (last,), "head.weight": (num_classes, last),
               "head.bias": (num_classes,)})
    return {k: torch.randn(shape, generator=g) for k, shape in sd.items()}


def net(input_channels=3):
    torch.manual_seed(1)
    return S3MambaNet(input_channels, 2, dims=(DIM, 2 * DIM, 4 * DIM, 8 * DIM), d_state=N_STATE, drop_path_rate=0.0,
                      tcma_channels=4, tcma_mlp_hidden=8)


def test_good_checkpoint_loads_encoder_and_mirrored_decoder(tmp_path):
    source = vmamba_v0_state_dict()
    path = tmp_path / "vmamba_small_e238_ema.pth"
    torch.save({"model": source, "epoch": 238}, path)
    model = net()
    report = load_vmamba_pretrained(model, path)
    ours = model.state_dict()
    for key in ("patch_embed.proj.weight", "layers.0.blocks.1.self_attention.A_logs", "layers.2.downsample.norm.weight",
                "layers.3.blocks.1.self_attention.x_proj_weight"):
        torch.testing.assert_close(ours[key], source[key])
    # Decoder stage of the same width receives the encoder's blocks (VM-UNet): layers.i -> layers_up.(3-i).
    torch.testing.assert_close(ours["layers_up.3.blocks.0.self_attention.in_proj.weight"],
                               source["layers.0.blocks.0.self_attention.in_proj.weight"])
    torch.testing.assert_close(ours["layers_up.0.blocks.1.ln_1.bias"], source["layers.3.blocks.1.ln_1.bias"])
    assert "layers.0.blocks.0.self_attention.conv2d.weight" in report["skipped"]["depthwise conv removed by EnVSS"]
    assert "head.weight" in report["skipped"]["ImageNet classifier"]
    assert "layers.2.blocks.4.ln_1.weight" in report["skipped"]["block beyond this network's depth"]
    assert "tcma.image_embed.0.weight" in report["not_initialised_from_file"]
    assert "layers.0.blocks.0.encf.fc1.weight" in report["not_initialised_from_file"]
    assert report["input_channel_adaptation"] is None


def test_single_channel_input_sums_rgb_filters(tmp_path):
    source = vmamba_v0_state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save(source, path)
    model = net(input_channels=1)
    report = load_vmamba_pretrained(model, path)
    torch.testing.assert_close(model.patch_embed.proj.weight, source["patch_embed.proj.weight"].sum(1, keepdim=True))
    assert "1 input channel" in report["input_channel_adaptation"]


def test_partial_checkpoint_lists_missing_weights_and_leaves_net_untouched(tmp_path):
    source = vmamba_v0_state_dict()
    del source["layers.1.blocks.0.self_attention.Ds"], source["patch_embed.norm.bias"]
    path = tmp_path / "partial.pth"
    torch.save({"model": source}, path)
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PretrainedMismatchError) as error:
        load_vmamba_pretrained(model, path)
    message = str(error.value)
    assert "partial.pth" in message and "layers.1.blocks.0.self_attention.Ds" in message
    assert "layers_up.2.blocks.0.self_attention.Ds" in message and "patch_embed.norm.bias" in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_wrong_widths_and_foreign_keys_are_listed(tmp_path):
    source = vmamba_v0_state_dict(dim=2 * DIM)
    source["decoder.extra.weight"] = torch.zeros(3)
    path = tmp_path / "wider.pth"
    torch.save({"model": source}, path)
    with pytest.raises(PretrainedMismatchError, match="shape mismatches") as error:
        load_vmamba_pretrained(net(), path)
    assert "decoder.extra.weight" in str(error.value)


def test_unreadable_and_missing_files(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(PretrainedMismatchError, match="notes.pth"):
        load_vmamba_pretrained(net(), text)
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        load_vmamba_pretrained(net(), tmp_path / "absent.pth")
