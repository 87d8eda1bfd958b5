"""Reading and extending a dataset's nnU-Net plans file with configurations that inherit a planned one.

Why: nnU-Net's documented way to train a planned configuration with other settings (batch, patch size) is a plans
configuration that inherits it and overrides those keys; nnU-Net's own `PlansManager` resolves the inheritance and
reuses the parent's preprocessed data. Every command of ours that adds one writes it through here, so they share the
same checks (the file exists and is a plans file, the base exists, a foreign configuration of the same name is never
overwritten) and the same atomic write (an interrupted call leaves the old file intact).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["PlansEditError", "load_plans", "resolved_value", "write_inheriting_configuration"]


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


def load_plans(dataset: str, plans_identifier: str, base: str) -> tuple[Path, dict]:
    """The plans file of `dataset` and its content, checked to be nnU-Net plans that hold configuration `base`."""
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
    return plans_file, plans


def resolved_value(plans: dict, name: str, key: str, plans_file: Path) -> Any:
    """`key` of configuration `name`, following `inherits_from` as nnU-Net's PlansManager does."""
    configurations = plans["configurations"]
    chain = [name]
    while key not in configurations[chain[-1]]:
        parent = configurations[chain[-1]].get("inherits_from")
        if parent not in configurations or parent in chain:
            raise PlansEditError(f"{plans_file}: configuration {name!r} has no {key} "
                                 f"(inheritance {' -> '.join(chain)}); rerun nnUNetv2_plan_and_preprocess.")
        chain.append(parent)
    return configurations[chain[-1]][key]


def write_inheriting_configuration(plans_file: Path, plans: dict, name: str, base: str,
                                   overrides: dict[str, Any]) -> None:
    """Add (or refresh) configuration `name` = `base` with `overrides`, and replace the plans file atomically.

    A configuration of that name that does not inherit from `base` is someone else's and is never overwritten.
    """
    existing = plans["configurations"].get(name)
    if existing is not None and existing.get("inherits_from") != base:
        raise PlansEditError(f"{plans_file} already has a configuration {name!r} that does not inherit from "
                             f"{base!r}; rename or remove it first, nothing was changed.")
    plans["configurations"][name] = {"inherits_from": base, **overrides}
    with tempfile.NamedTemporaryFile("w", dir=plans_file.parent, suffix=".json.tmp", delete=False) as handle:
        json.dump(plans, handle, indent=4)
    os.replace(handle.name, plans_file)
