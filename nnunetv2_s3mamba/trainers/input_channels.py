"""A clear error when an image arrives with a different number of channels than the model was trained on.

The usual cause is a missing or misnamed channel file at prediction (`case_0001.nii.gz` absent, so nnU-Net reads
only `case_0000`): nnU-Net preprocesses the case and hands the network fewer channels, and the network's own
shape assertion says nothing about files. The check runs as a forward pre-hook registered by the trainer's network
builder, so it fires in training and in `nnUNetv2_predict` alike without overriding anything in nnU-Net's predictor.

nnU-Net gives the builder only the plans, so the trainer copies dataset.json's `channel_names` and `file_ending`
into the plans it trains with (`record_input_files`); nnU-Net saves those plans beside the checkpoints, and the
builder reads them back at prediction. Models trained before this key existed get the message without names.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnunetv2_s3mamba.errors import UserError

__all__ = ["InputChannelsCheck", "InputChannelsError", "PLANS_KEY", "check_input_channels", "input_channels_message",
           "record_input_files"]

PLANS_KEY = "s3mamba_input_files"
# nnU-Net's reader for PNG/BMP/TIFF photos (the plans' `image_reader_writer`): one file holds all colour channels
NATURAL_IMAGE_READER = "NaturalImage2DIO"


class InputChannelsError(UserError):
    """The input's channel count differs from the model's: the files given, not the code, are wrong."""


def record_input_files(plans: dict, dataset_json: dict) -> dict:
    """Copy dataset.json's channel names and file ending into `plans` (in place) and return it."""
    plans[PLANS_KEY] = {"channel_names": dict(dataset_json.get("channel_names", {})),
                        "file_ending": dataset_json.get("file_ending", "")}
    return plans


def input_channels_message(expected: int, found: int, plans: dict[str, Any] | None) -> str:
    """What was expected, what arrived, and which files to look at.

    nnU-Net stacks the channels of all files of a case in suffix order. Medical formats hold one channel per file;
    a PNG/BMP/TIFF image holds its colour channels in one file (RGB 3, RGBA 4, gray 1), so there the number of
    files per case is not known and the colour mode is as likely a cause. `plans`: the model's (None: no names,
    no reader known).
    """
    plans = plans or {}
    input_files = plans.get(PLANS_KEY, {})
    names = input_files.get("channel_names", {})
    ending = input_files.get("file_ending", "")
    named = ", ".join(f"{index}: {names[str(index)]}" for index in range(expected) if str(index) in names)
    lines = [f"The model was trained on {expected} input channel(s)"
             + (f" ({named}, channel_names in the model's dataset.json)" if named else "")
             + f" but this image has {found}."]
    suffix = ending or ".<file_ending>"
    if plans.get("image_reader_writer") == NATURAL_IMAGE_READER:
        lines.append(f"nnU-Net stacks the channels of a case's files in suffix order (CASE_0000{suffix}, "
                     f"CASE_0001{suffix}, ...), and each such image file brings its own colour channels (RGB 3, "
                     "RGBA 4, gray 1): give every case the same files as in training, in the same colour mode.")
    else:
        files = ", ".join(f"CASE_{index:04d}{suffix}" for index in range(expected))
        lines.append(f"Each case needs one file per channel with exactly these suffixes: {files}. nnU-Net reads "
                     "the files it finds, so a missing or misnamed one (e.g. _1 instead of _0001) shows up here.")
    lines.append("At prediction the case is the one named in the 'Predicting ...' line above; check every case of "
                 "the input folder.")
    return " ".join(lines)


class InputChannelsCheck:
    """Forward pre-hook raising `InputChannelsError` on a wrong channel count (a class, not a closure, so that the
    network still pickles; it adds no parameters and leaves the state dict unchanged)."""

    def __init__(self, expected: int, plans: dict[str, Any] | None):
        self.expected, self.plans = expected, plans

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        x = args[0]
        if isinstance(x, torch.Tensor) and x.dim() >= 2 and x.shape[1] != self.expected:
            raise InputChannelsError(input_channels_message(self.expected, x.shape[1], self.plans))


def check_input_channels(network: nn.Module, expected: int, plans: dict[str, Any] | None) -> nn.Module:
    """Register `InputChannelsCheck` on `network` and return the network."""
    network.register_forward_pre_hook(InputChannelsCheck(expected, plans))
    return network
