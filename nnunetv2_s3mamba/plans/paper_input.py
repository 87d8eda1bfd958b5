"""A plans configuration with the paper's input size and batch (256x256, batch 16) on top of a planned one.

Why: the paper trains S3-Mamba on 256x256 inputs at batch 16 for 600 epochs, which on CVC-ClinicDB (428 training
frames) is 16k iterations. nnU-Net plans CVC-ClinicDB at 320x384 with batch 19, 2.3x the pixels per iteration, so an
iteration budget taken from the paper is only comparable at the paper's input size; and on a GPU session of fixed
length the smaller iterations let a run get nearer to the paper's 16k. The configuration inherits the planned one
(same preprocessing, spacing, normalisation and network topology; nnU-Net's PlansManager resolves it) and overrides
only `patch_size` and `batch_size`. nnU-Net then trains on random 256x256 crops with its own augmentation and
predicts with a 256x256 sliding window, where the paper resizes whole images to 256x256: the same input size and
batch, at the images' own resolution.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from nnunetv2_s3mamba.plans.plans_file import (PlansEditError, load_plans, resolved_value,
                                               write_inheriting_configuration)

__all__ = ["add_paper_input_configuration", "PAPER_PATCH_SIZE", "PAPER_BATCH_SIZE"]

PAPER_PATCH_SIZE: tuple[int, int] = (256, 256)
PAPER_BATCH_SIZE: int = 16


def add_paper_input_configuration(dataset: str, base: str = "2d", patch_size: Sequence[int] = PAPER_PATCH_SIZE,
                                  batch_size: int = PAPER_BATCH_SIZE,
                                  plans_identifier: str = "nnUNetPlans") -> tuple[str, Path]:
    """Add (or refresh) the configuration `<base>_paper`: `base` with `patch_size` and `batch_size`.

    The patch must suit the planned U-Net too (nnU-Net's `nnUNetTrainer` trains the same configuration for a
    same-budget comparison): each side a multiple of the network's total stride along that axis.
    Returns (configuration name, plans file).
    """
    if batch_size < 1:
        raise PlansEditError(f"--batch must be at least 1 (got {batch_size}).")
    plans_file, plans = load_plans(dataset, plans_identifier, base)
    planned_patch = resolved_value(plans, base, "patch_size", plans_file)
    if len(patch_size) != len(planned_patch) or min(patch_size) < 1:
        raise PlansEditError(f"--patch needs {len(planned_patch)} positive sizes for configuration {base!r} "
                             f"(planned {list(planned_patch)}), got {list(patch_size)}.")
    strides = resolved_value(plans, base, "architecture", plans_file).get("arch_kwargs", {}).get("strides")
    if strides:
        total = [math.prod(int(stage[axis]) for stage in strides) for axis in range(len(planned_patch))]
        if any(side % stride for side, stride in zip(patch_size, total)):
            suggestion = " ".join(str(math.ceil(side / stride) * stride) for side, stride in zip(patch_size, total))
            raise PlansEditError(f"--patch {' '.join(map(str, patch_size))} does not suit configuration {base!r} of "
                                 f"{plans_file}: its U-Net downsamples by {total} per axis, so each side must be a "
                                 f"multiple of that (e.g. --patch {suggestion}).")
    name = f"{base}_paper"
    write_inheriting_configuration(plans_file, plans, name, base,
                                   {"patch_size": [int(side) for side in patch_size], "batch_size": int(batch_size)})
    return name, plans_file
