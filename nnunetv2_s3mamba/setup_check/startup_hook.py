"""Registers our trainers with nnU-Net in every Python process of the environment we are installed in.

nnU-Net reads `nnUNet_extTrainer` from `os.environ` each time it looks a trainer up (`nnUNetv2_train`,
`nnUNetv2_predict` with the name stored in the checkpoint, `--c`, `--val`, every DDP rank), and those commands are
nnU-Net's own scripts, which a plugin must not modify. The one place left is interpreter startup: `site` runs the
`import` lines of every `.pth` file in site-packages. setup.py installs `PTH_FILE` there (wheel and editable
installs); its one line calls `register_at_startup()` inside a try, so a broken or half-removed install costs the
registration, never Python's startup. Child processes inherit the variable, scripts run from schedulers too.

This module and what it imports (`discovery.py`, the package `__init__`s) stay free of torch and nnU-Net: they
run in every Python process of the environment. In an editable install the package is found through setuptools'
`__editable__.*.pth` finder, which `site` processes first because it sorts before `PTH_FILE`.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import NamedTuple, Optional

from nnunetv2_s3mamba.setup_check.discovery import EXT_TRAINER_VARIABLE, is_registered, with_our_folder_appended

__all__ = ["register_at_startup", "StartupOutcome", "AUTO_REGISTER_VARIABLE", "PTH_FILE", "PTH_SOURCE",
           "startup_outcome"]

AUTO_REGISTER_VARIABLE = "S3MAMBA_AUTO_REGISTER"
PTH_FILE = "nnunetv2_s3mamba-register-trainers.pth"
PTH_SOURCE = Path(__file__).with_name(PTH_FILE)  # setup.py copies it to the top of site-packages


class StartupOutcome(NamedTuple):
    """What `register_at_startup` did: `active` where the variable lists our folder through it (or already did)."""

    active: bool
    detail: str


# The outcome in this process, for `s3mamba doctor`; None where the hook did not run.
startup_outcome: Optional[StartupOutcome] = None


def register_at_startup() -> StartupOutcome:
    """Append our shim folder to `nnUNet_extTrainer` where it is missing; returns (and keeps) what it did.

    Appended, not prepended: a user's own folders keep their order and precedence. `S3MAMBA_AUTO_REGISTER=0`
    turns it off for users who register trainers themselves (or want nnU-Net not to see ours). Runs once per
    process: in a venv, `site` reads the .pth files of its site-packages twice (its `venv()` and `main()` both add
    that folder), and the second call would report "nothing to add" over what the first one did.
    """
    global startup_outcome
    if startup_outcome is None:
        startup_outcome = _register()
    return startup_outcome


def _register() -> StartupOutcome:
    if os.environ.get(AUTO_REGISTER_VARIABLE, "1").strip().lower() in ("0", "false", "no", "off"):
        return StartupOutcome(False, f"off ({AUTO_REGISTER_VARIABLE}=0)")
    if importlib.util.find_spec("nnunetv2") is None:  # finds without importing
        return StartupOutcome(False, "skipped: nnunetv2 is not importable")
    if is_registered():
        return StartupOutcome(True, f"nothing to add: {EXT_TRAINER_VARIABLE} already lists our folder")
    os.environ[EXT_TRAINER_VARIABLE] = with_our_folder_appended(os.environ.get(EXT_TRAINER_VARIABLE))
    return StartupOutcome(True, f"appended our folder to {EXT_TRAINER_VARIABLE}")
