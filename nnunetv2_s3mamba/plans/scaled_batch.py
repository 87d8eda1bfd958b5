"""A plans configuration with N times the batch of another, for `-num_gpus N` with the plan's batch on every GPU.

Why: `nnUNetv2_train ... -num_gpus N` splits the configuration's batch over the GPUs. At the CVC-ClinicDB plan
(batch 19 -> 9 + 9 on two GPUs) that gave S3-Mamba only 1.24x the images/s of one GPU, because a step's fixed cost
does not shrink with the batch; with the plan's batch on every GPU (global batch 2 x 19) two GPUs trained 1.86x
the images/s (2x H100, docs/BENCHMARKS.md). nnU-Net's documented way to change a batch is a plans configuration
that inherits another and overrides `batch_size`; this writes exactly that, so nnU-Net's own tools read it
(`nnUNetv2_train DATASET 2d_x2 FOLD -num_gpus 2`, `nnUNetv2_predict -c 2d_x2`) and the preprocessed data of the
base configuration is reused (the data identifier is inherited).
"""
from __future__ import annotations

from pathlib import Path

from nnunetv2_s3mamba.plans.plans_file import (PlansEditError, load_plans, resolved_value,
                                               write_inheriting_configuration)

__all__ = ["add_scaled_batch_configuration"]


def add_scaled_batch_configuration(dataset: str, factor: int, base: str = "2d",
                                   plans_identifier: str = "nnUNetPlans") -> tuple[str, int, Path]:
    """Add (or refresh) the configuration `<base>_x<factor>`: `base` with `factor` times its batch.

    Returns (configuration name, its batch, plans file); the checks and the atomic write are `plans_file.py`'s.
    """
    if factor < 2:
        raise PlansEditError(f"--gpus must be at least 2 (got {factor}): with one GPU train `{base}` itself.")
    plans_file, plans = load_plans(dataset, plans_identifier, base)
    batch = int(resolved_value(plans, base, "batch_size", plans_file)) * factor
    name = f"{base}_x{factor}"
    write_inheriting_configuration(plans_file, plans, name, base, {"batch_size": batch})
    return name, batch, plans_file
