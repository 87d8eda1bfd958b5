"""In-memory nnU-Net plans for tests that build trainers or read configurations without planning a dataset."""
from __future__ import annotations

ARCHITECTURE = {"network_class_name": "PlainConvUNet", "arch_kwargs": {}, "_kw_requires_import": []}


def make_plans(configurations: dict) -> dict:
    """A plans dict with `configurations` (each given nnU-Net's architecture entry) and what a trainer reads from it.

    `continue_training` is the key nnU-Net 2.8's run_training adds before it constructs a trainer."""
    for configuration in configurations.values():
        configuration.setdefault("architecture", ARCHITECTURE)
    return {"dataset_name": "Dataset1_X", "plans_name": "nnUNetPlans", "continue_training": False,
            "configurations": configurations}
