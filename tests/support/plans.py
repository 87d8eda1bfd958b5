"""In-memory nnU-Net plans for tests that build trainers or read configurations without planning a dataset."""
from __future__ import annotations

import json
from pathlib import Path

ARCHITECTURE = {"network_class_name": "PlainConvUNet", "arch_kwargs": {}, "_kw_requires_import": []}


def make_plans(configurations: dict) -> dict:
    """A plans dict with `configurations` (each given nnU-Net's architecture entry) and what a trainer reads from it.

    `continue_training` is the key nnU-Net 2.8's run_training adds before it constructs a trainer."""
    for configuration in configurations.values():
        if "inherits_from" not in configuration:  # an inheriting one takes its parent's, as nnU-Net resolves it
            configuration.setdefault("architecture", ARCHITECTURE)
    return {"dataset_name": "Dataset1_X", "plans_name": "nnUNetPlans", "continue_training": False,
            "configurations": configurations}


def write_plans_file(env: dict[str, str], configurations: dict) -> Path:
    """`make_plans(configurations)` written as Dataset901_Tiny's nnUNetPlans.json under env's nnUNet_preprocessed."""
    plans_file = Path(env["nnUNet_preprocessed"]) / "Dataset901_Tiny" / "nnUNetPlans.json"
    plans_file.parent.mkdir(exist_ok=True)
    plans_file.write_text(json.dumps(make_plans(configurations), indent=4))
    return plans_file
