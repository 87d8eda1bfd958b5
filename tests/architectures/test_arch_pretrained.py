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


def _loaded_for(tmp_path, input_channels: int):
    """A bare VMamba state dict (no 'model' wrapper) loaded into a net for `input_channels`: (source, net, report)."""
    source = vmamba_v0_state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save(source, path)
    model = net(input_channels=input_channels)
    return source, model, load_vmamba_pretrained(model, path)


def test_single_channel_input_sums_rgb_filters(tmp_path):
    source, model, report = _loaded_for(tmp_path, 1)
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


# --- the nnU-Net -pretrained_weights path: convert once, nnU-Net's own loader loads the result --------------------

CONVERT = "s3mamba pretrained convert vmamba_small_e238_ema.pth -d Dataset1_X -c 2d -tr T -o s3mamba_init.pth"


def test_converted_file_loads_through_nnunets_own_loader(tmp_path):
    from nnunetv2.run.load_pretrained_weights import load_pretrained_weights
    from nnunetv2_s3mamba.architectures.pretrained_checkpoint import check_nnunet_pretrained, convert_to_nnunet_checkpoint

    source = vmamba_v0_state_dict()
    vmamba = tmp_path / "vmamba_small_e238_ema.pth"
    torch.save({"model": source, "epoch": 238}, vmamba)
    converted_net = net()
    converted = tmp_path / "s3mamba_init.pth"
    convert_to_nnunet_checkpoint(converted_net, vmamba, converted, {"trainer": "T"})
    assert not list(tmp_path.glob("*.partial"))
    torch.manual_seed(5)  # a training's own, different initialisation
    training_net = S3MambaNet(3, 2, dims=(DIM, 2 * DIM, 4 * DIM, 8 * DIM), d_state=N_STATE, tcma_channels=4,
                              tcma_mlp_hidden=8)
    record = check_nnunet_pretrained(training_net, converted, CONVERT)
    assert record["trainer"] == "T" and record["loaded_tensors"] > 0
    load_pretrained_weights(training_net, str(converted))
    ours = training_net.state_dict()
    torch.testing.assert_close(ours["patch_embed.proj.weight"], source["patch_embed.proj.weight"])
    torch.testing.assert_close(ours["layers.2.blocks.1.self_attention.dt_projs_bias"],
                               source["layers.2.blocks.1.self_attention.dt_projs_bias"])
    torch.testing.assert_close(ours["layers_up.1.blocks.0.self_attention.out_proj.weight"],
                               source["layers.2.blocks.0.self_attention.out_proj.weight"])
    torch.testing.assert_close(ours["layers.1.downsample.reduction.weight"],
                               source["layers.1.downsample.reduction.weight"])
    # what VMamba lacks comes from the converted file's fresh initialisation (nnU-Net requires every key)
    for key in ("tcma.image_embed.0.weight", "final_conv.weight", "layers.0.blocks.0.encf.fc1.weight"):
        torch.testing.assert_close(ours[key], converted_net.state_dict()[key])


def test_check_refuses_vmamba_and_unreadable_files_with_the_convert_command(tmp_path):
    from nnunetv2_s3mamba.architectures.pretrained_checkpoint import check_nnunet_pretrained
    from nnunetv2_s3mamba.errors import UserError

    vmamba = tmp_path / "vmamba_small_e238_ema.pth"
    torch.save({"model": vmamba_v0_state_dict()}, vmamba)
    with pytest.raises(UserError, match="looks like a VMamba") as error:
        check_nnunet_pretrained(net(), vmamba, CONVERT)
    assert CONVERT in str(error.value) and "'network_weights'" in str(error.value)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(UserError, match="notes.pth is not a PyTorch checkpoint"):
        check_nnunet_pretrained(net(), text, CONVERT)
    with pytest.raises(UserError, match="no such file"):
        check_nnunet_pretrained(net(), tmp_path / "absent.pth", CONVERT)


def test_check_names_first_missing_and_mismatched_keys_of_another_network(tmp_path):
    from nnunetv2_s3mamba.architectures.pretrained_checkpoint import check_nnunet_pretrained

    weights = net().state_dict()
    weights["patch_embed.proj.weight"] = torch.zeros(DIM, 1, 4, 4)  # converted for a 1-channel dataset
    del weights["final_conv.bias"]
    other = tmp_path / "checkpoint_final.pth"
    torch.save({"network_weights": weights, "trainer_name": "nnUNetTrainer"}, other)
    with pytest.raises(PretrainedMismatchError) as error:
        check_nnunet_pretrained(net(), other, CONVERT)
    message = str(error.value)
    assert "1 keys of the network missing from the file, first: final_conv.bias" in message
    assert f"patch_embed.proj.weight: file ({DIM}, 1, 4, 4), network ({DIM}, 3, 4, 4)" in message
    assert CONVERT in message


def test_convert_refuses_nnunet_checkpoints_and_names_vmamba_v2_keys(tmp_path):
    nnunet = tmp_path / "checkpoint_final.pth"
    torch.save({"network_weights": net().state_dict()}, nnunet)
    with pytest.raises(PretrainedMismatchError, match="already an nnU-Net checkpoint"):
        load_vmamba_pretrained(net(), nnunet)
    v2 = {k.replace(".ln_1.", ".norm.").replace(".self_attention.", ".op."): v
          for k, v in vmamba_v0_state_dict().items()}
    path = tmp_path / "vmamba_small_v2.pth"
    torch.save({"model": v2}, path)
    with pytest.raises(PretrainedMismatchError, match="VMamba v1/v2 names") as error:
        load_vmamba_pretrained(net(), path)
    assert "layers.0.blocks.0.ln_1.weight" in str(error.value)  # the first weights it lacks are named


def test_two_channel_input_spreads_the_rgb_mean(tmp_path):
    source, model, report = _loaded_for(tmp_path, 2)
    rgb = source["patch_embed.proj.weight"]
    torch.testing.assert_close(model.patch_embed.proj.weight, rgb.mean(1, keepdim=True).repeat(1, 2, 1, 1) * 1.5)
    # a constant image gives the RGB network's response
    assert torch.allclose(model.patch_embed.proj.weight.sum(1), rgb.sum(1), atol=1e-5)
    assert "2 input channels" in report["input_channel_adaptation"]
