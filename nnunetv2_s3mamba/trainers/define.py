"""Trainer classes built from the registry's rows, at module level in their group's module.

nnU-Net finds a trainer by class name among the attributes of the modules it imports, and data-loader workers
started with spawn/forkserver unpickle it by `__module__` and `__qualname__`: each class must be an attribute of the
module its `__module__` names, which `define_group_trainers` makes it.
"""
from __future__ import annotations

import importlib
from typing import Any

from nnunetv2_s3mamba.trainers.registry import GROUPS, TRAINERS, rows_of_group


def define_group_trainers(namespace: dict[str, Any], group: str) -> list[str]:
    """Create every row of `group` in `namespace` (the calling module's `globals()`) and return their names."""
    module = namespace["__name__"]
    assert module == GROUPS[group].module, f"group {group!r} belongs in {GROUPS[group].module}, not in {module}"
    names = []
    for row in rows_of_group(group):
        bases = tuple(_base_class(base, namespace) for base in row.bases)
        namespace[row.name] = type(row.name, bases, {**row.changes, "__module__": module, "__qualname__": row.name,
                                                     "__doc__": row.description})
        names.append(row.name)
    return names


def _base_class(name: str, namespace: dict[str, Any]) -> type:
    """A class the group's module holds (a hook class it imports, or an earlier row), else another group's row."""
    if name in namespace:
        return namespace[name]
    assert name in TRAINERS, (f"base {name!r} is neither a row of trainers/registry.py nor a class that "
                              f"{namespace['__name__']} imports")
    return getattr(importlib.import_module(GROUPS[TRAINERS[name].group].module), name)
