"""The folder nnU-Net must search for our trainers, and the shell line that registers it.

nnU-Net 2.8 imports every module of each folder listed in `nnUNet_extTrainer` under a top-level name. The folder
we ship therefore holds one shim module that only re-exports the trainer classes from the installed package: the
classes keep their real module, so data-loader workers can unpickle them under spawn/forkserver.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

EXT_TRAINER_VARIABLE = "nnUNet_extTrainer"


def ext_trainer_dir() -> Path:
    """The shipped folder that holds only the shim module."""
    return Path(__file__).resolve().parent.parent / "nnunet_ext"


def _entries(value: str | None) -> list[str]:
    return [entry for entry in (value or "").split(os.pathsep) if entry]


def is_registered(value: str | None = None) -> bool:
    """Whether `value` (default: the current environment) lists our shim folder."""
    value = os.environ.get(EXT_TRAINER_VARIABLE) if value is None else value
    target = ext_trainer_dir()
    return any(Path(entry).resolve() == target for entry in _entries(value))


def with_our_folder(current: str | None) -> str:
    """An `nnUNet_extTrainer` value with our folder in front (once) and every folder of `current` kept.

    For explicit set-ups (`s3mamba env`, the quickstart): whoever asks for it wants our trainers to win.
    """
    kept = [entry for entry in _entries(current) if Path(entry).resolve() != ext_trainer_dir()]
    return os.pathsep.join([str(ext_trainer_dir()), *kept])


def with_our_folder_appended(current: str | None) -> str:
    """`current` untouched where it lists our folder already, else `current` with our folder appended.

    For the automatic registration at Python startup (`startup_hook.py`): nobody asked, so a user's own folders
    keep their order and stay first (nnU-Net takes the first class of a name it finds).
    """
    if is_registered(current or ""):
        return current
    return os.pathsep.join([current, str(ext_trainer_dir())]) if current else str(ext_trainer_dir())


def export_line(current: str | None = None) -> str:
    """`export nnUNet_extTrainer=...` for the current environment's value (or `current`)."""
    current = os.environ.get(EXT_TRAINER_VARIABLE) if current is None else current
    return f"export {EXT_TRAINER_VARIABLE}={shlex.quote(with_our_folder(current))}"
