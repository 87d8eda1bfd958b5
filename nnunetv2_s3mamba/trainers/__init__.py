"""nnU-Net trainers for S3-Mamba and its ablations, and nnU-Net's own U-Net as controls: every name in
`trainers/registry.py`, built in the group modules of `trainers/variants/`.

`__all__` is the registry's names, and the shipped shim (`nnunet_ext/s3mamba_nnunet_shim.py`) re-exports exactly
it. A class's group module is imported on first access (PEP 562), so that reading the registry (`s3mamba trainers`,
every other `s3mamba` command) does not import nnU-Net.
"""
from __future__ import annotations

import importlib

from nnunetv2_s3mamba.trainers.registry import GROUPS, TRAINERS

__all__ = list(TRAINERS)


def __getattr__(name: str) -> type:
    if name not in TRAINERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(GROUPS[TRAINERS[name].group].module), name)
