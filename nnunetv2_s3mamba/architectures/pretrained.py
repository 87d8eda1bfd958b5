"""Initialise an S3MambaNet from a local VMamba-S (v0) ImageNet checkpoint, as VM-UNet does. Nothing is downloaded.

Mapping (checkpoint key -> our key), for `vmamba_small_e238_ema.pth` (VMamba v0 names `ln_1`, `self_attention`):
  patch_embed.*                      -> patch_embed.*   (input conv adapted when the input is not 3-channel RGB)
  layers.i.blocks.j.*                -> layers.i.blocks.j.*  AND  layers_up.(3-i).blocks.j.*   (encoder and the
                                        decoder stage of the same width; blocks beyond our depths are skipped)
  layers.i.downsample.*              -> layers.i.downsample.*
  *.self_attention.conv2d.*          -> skipped: the depthwise conv that EnVSS removes
  head.*, norm.*                     -> skipped: the ImageNet classifier
Everything else in our network (EnCF, residual scales, TCMA, heads, patch expanding) keeps its initialisation.
A file that does not fit (missing weights, other shapes, unknown keys) raises one error that lists all of it.
For `nnUNetv2_train -pretrained_weights` see `pretrained_checkpoint.py`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Union

import torch
from torch import nn

from nnunetv2_s3mamba.errors import UserError

__all__ = ["load_vmamba_pretrained", "PretrainedMismatchError", "VMAMBA_WRAPPERS"]

N_STAGES = 4
_BLOCK_KEY = re.compile(r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_MAPPED_BLOCK_PARTS = ("ln_1.", "self_attention.")

VMAMBA_WRAPPERS = ("model", "model_ema", "state_dict")


class PretrainedMismatchError(UserError):
    """The checkpoint does not fit the network; the message lists the keys that did not match."""


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"VMamba checkpoint {path} does not exist. Nothing is downloaded automatically: "
                                f"put vmamba_small_e238_ema.pth (VMamba-S v0, ImageNet-1K) on this machine and "
                                f"pass its path.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise PretrainedMismatchError(f"{path} is not a PyTorch checkpoint that torch.load can read "
                                      f"({type(error).__name__}: {error}).") from error
    if isinstance(checkpoint, dict) and "network_weights" in checkpoint:
        raise PretrainedMismatchError(f"{path} is already an nnU-Net checkpoint ('network_weights'), not a VMamba "
                                      f"one: pass it to nnUNetv2_train -pretrained_weights directly.")
    if isinstance(checkpoint, dict):
        for wrapper in VMAMBA_WRAPPERS:
            if isinstance(checkpoint.get(wrapper), dict):
                checkpoint = checkpoint[wrapper]
                break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise PretrainedMismatchError(f"{path} holds no state dict (expected a dict of tensors, or one under the key "
                                      f"'model' as in vmamba_small_e238_ema.pth).")
    return checkpoint


def _targets(key: str) -> tuple[list[str], str]:
    """Our keys for one checkpoint key, or ([], reason it is skipped); reason "" means unknown."""
    if key.startswith("patch_embed."):
        return [key], ""
    if key.startswith(("head.", "norm.")):
        return [], "ImageNet classifier"
    match = _BLOCK_KEY.match(key)
    if match:
        stage, block, rest = int(match.group(1)), match.group(2), match.group(3)
        if rest.startswith("self_attention.conv2d."):
            return [], "depthwise conv removed by EnVSS"
        if stage < N_STAGES and rest.startswith(_MAPPED_BLOCK_PARTS):
            return [key, f"layers_up.{N_STAGES - 1 - stage}.blocks.{block}.{rest}"], ""
        return [], ""
    if re.match(r"^layers\.\d+\.downsample\.", key):
        return [key], ""
    return [], ""


def _is_expected_from_vmamba(our_key: str) -> bool:
    """Our parameters that a VMamba-S checkpoint must provide."""
    if our_key.startswith("patch_embed.") or re.match(r"^layers\.\d+\.downsample\.", our_key):
        return True
    match = re.match(r"^(layers|layers_up)\.\d+\.blocks\.\d+\.(.+)$", our_key)
    return bool(match) and match.group(2).startswith(_MAPPED_BLOCK_PARTS)


def _adapt_input_conv(weight: torch.Tensor, in_channels: int) -> tuple[torch.Tensor, str]:
    """RGB patch-embedding weights for another number of input channels.

    One channel: the sum over RGB (a grey image seen as R=G=B gives the same response). Other counts: the RGB mean
    spread over the channels, scaled so that a constant image gives the same response.
    """
    if in_channels == weight.shape[1]:
        return weight, ""
    if in_channels == 1:
        return weight.sum(1, keepdim=True), "patch_embed.proj.weight: RGB filters summed for 1 input channel"
    adapted = weight.mean(1, keepdim=True).repeat(1, in_channels, 1, 1) * (weight.shape[1] / in_channels)
    return adapted, f"patch_embed.proj.weight: RGB mean spread over {in_channels} input channels"


def load_vmamba_pretrained(net: nn.Module, path: Union[str, Path]) -> dict:
    """Copy VMamba-S v0 ImageNet weights into `net` (an S3MambaNet); returns a report of what was loaded/skipped.

    Raises FileNotFoundError for a missing file and PretrainedMismatchError (listing every missing key, shape
    mismatch and unknown key) for a file that does not fit; `net` is left untouched in both cases.
    """
    path = Path(path)
    source = _read_state_dict(path)
    ours = net.state_dict()
    updates: dict[str, torch.Tensor] = {}
    skipped: dict[str, list[str]] = {}
    unknown, shape_mismatch = [], []
    adaptation = ""
    for key, value in source.items():
        targets, reason = _targets(key)
        if not targets:
            if reason:
                skipped.setdefault(reason, []).append(key)
            elif _BLOCK_KEY.match(key) and int(_BLOCK_KEY.match(key).group(1)) < N_STAGES:
                skipped.setdefault("block beyond this network's depth", []).append(key)
            else:
                unknown.append(key)
            continue
        present = [t for t in targets if t in ours]
        if not present:
            skipped.setdefault("block beyond this network's depth", []).append(key)
            continue
        for target in present:
            if target == "patch_embed.proj.weight" and value.dim() == 4 and value.shape[0] == ours[target].shape[0]:
                value, adaptation = _adapt_input_conv(value, ours[target].shape[1])
            if value.shape != ours[target].shape:
                shape_mismatch.append(f"{key} {tuple(value.shape)} -> {target} {tuple(ours[target].shape)}")
            else:
                updates[target] = value
    missing = sorted(k for k in ours if _is_expected_from_vmamba(k) and k not in updates
                     and not any(k in m.split(" -> ")[1] for m in shape_mismatch))
    if missing or shape_mismatch or unknown:
        problems = []
        for title, items in (("weights the network needs but the file lacks", missing),
                             ("shape mismatches (file -> network)", shape_mismatch),
                             ("keys that are not VMamba-S v0 weights", unknown)):
            if items:
                problems.append(f"{len(items)} {title}:\n    " + "\n    ".join(items[:40])
                                + ("\n    ..." if len(items) > 40 else ""))
        if any(re.match(r"^layers\.\d+\.blocks\.\d+\.(norm|op)\.", key) for key in source):
            problems.append("block keys '.norm.'/'.op.' are VMamba v1/v2 names: S3-Mamba's backbone is VMamba v0 "
                            "(ln_1, self_attention), as in vmamba_small_e238_ema.pth")
        raise PretrainedMismatchError(
            f"{path} does not fit this network as a VMamba-S v0 checkpoint (expected vmamba_small_e238_ema.pth "
            f"with the 'vmamba-s' preset, dims 96..768):\n  " + "\n  ".join(problems))
    with torch.no_grad():
        for key, value in updates.items():
            ours[key].copy_(value.to(ours[key].dtype))
    return {
        "path": str(path),
        "loaded": sorted(updates),
        "skipped": {reason: sorted(keys) for reason, keys in skipped.items()},
        "not_initialised_from_file": sorted(k for k in ours if k not in updates),
        "input_channel_adaptation": adaptation or None,
    }
