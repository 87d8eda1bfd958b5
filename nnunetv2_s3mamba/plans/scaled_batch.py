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

import json
import os
import tempfile
from pathlib import Path

__all__ = ["add_scaled_batch_configuration", "PlansEditError"]


class PlansEditError(ValueError):
    """The plans cannot be edited as asked; the message says which file and what to do."""


def _plans_file(dataset: str, plans_identifier: str) -> Path:
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    preprocessed = os.environ.get("nnUNet_preprocessed")
    if not preprocessed:
        raise PlansEditError("nnUNet_preprocessed is not set: set it to the folder nnUNetv2_plan_and_preprocess "
                             "wrote to (or `eval \"$(s3mamba env)\"`).")
    try:
        dataset_name = maybe_convert_to_dataset_name(dataset)
    except RuntimeError as error:
        raise PlansEditError(f"Dataset {dataset!r} not found: {error}") from error
    plans_file = Path(preprocessed) / dataset_name / f"{plans_identifier}.json"
    if not plans_file.is_file():
        raise PlansEditError(f"{plans_file} does not exist: run `nnUNetv2_plan_and_preprocess -d {dataset}` first "
                             f"(or pass the plans identifier you planned with, -p).")
    return plans_file


def add_scaled_batch_configuration(dataset: str, factor: int, base: str = "2d",
                                   plans_identifier: str = "nnUNetPlans") -> tuple[str, int, Path]:
    """Add (or refresh) the configuration `<base>_x<factor>`: `base` with `factor` times its batch.

    Returns (configuration name, its batch, plans file). The plans file is replaced atomically, so an interrupted
    call leaves the old file intact. A configuration of that name that does not inherit from `base` is never
    overwritten.
    """
    if factor < 2:
        raise PlansEditError(f"--gpus must be at least 2 (got {factor}): with one GPU train `{base}` itself.")
    plans_file = _plans_file(str(dataset), plans_identifier)
    try:
        plans = json.loads(plans_file.read_text())
        configurations = plans["configurations"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PlansEditError(f"{plans_file} is not an nnU-Net plans file ({type(error).__name__}: {error}); "
                             f"rerun nnUNetv2_plan_and_preprocess.") from error
    if base not in configurations:
        raise PlansEditError(f"{plans_file} has no configuration {base!r} (it has {', '.join(configurations)}); "
                             f"choose one with --configuration.")
    name = f"{base}_x{factor}"
    existing = configurations.get(name)
    if existing is not None and existing.get("inherits_from") != base:
        raise PlansEditError(f"{plans_file} already has a configuration {name!r} that does not inherit from "
                             f"{base!r}; rename or remove it first, nothing was changed.")
    base_batch = _batch_size(configurations, base, plans_file)
    batch = base_batch * factor
    configurations[name] = {"inherits_from": base, "batch_size": batch}
    with tempfile.NamedTemporaryFile("w", dir=plans_file.parent, suffix=".json.tmp", delete=False) as handle:
        json.dump(plans, handle, indent=4)
    os.replace(handle.name, plans_file)
    return name, batch, plans_file


def _batch_size(configurations: dict, name: str, plans_file: Path) -> int:
    """The batch of `name`, following `inherits_from` as nnU-Net's PlansManager does."""
    chain = [name]
    while "batch_size" not in configurations[chain[-1]]:
        parent = configurations[chain[-1]].get("inherits_from")
        if parent not in configurations or parent in chain:
            raise PlansEditError(f"{plans_file}: configuration {name!r} has no batch_size "
                                 f"(inheritance {' -> '.join(chain)}); rerun nnUNetv2_plan_and_preprocess.")
        chain.append(parent)
    return int(configurations[chain[-1]]["batch_size"])
