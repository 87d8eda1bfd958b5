"""`s3mamba env` and `s3mamba doctor`."""
from __future__ import annotations

import argparse

from nnunetv2_s3mamba.setup_check.discovery import export_line
from nnunetv2_s3mamba.setup_check.doctor import run_checks

MARKS = {True: "OK  ", False: "FAIL", None: "WARN"}


def _env(args: argparse.Namespace) -> int:
    print(export_line())
    return 0


def _doctor(args: argparse.Namespace) -> int:
    results = run_checks()
    for check in results:
        print(f"[{MARKS[check.ok]}] {check.name}: {check.detail}")
        if check.advice:
            print(f"       fix: {check.advice}")
    return 1 if any(check.ok is False for check in results) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    env = subparsers.add_parser("env", help="print the export line that lets nnU-Net find the S3-Mamba trainers",
                                description='Use as: eval "$(s3mamba env)". Keeps folders already listed. Only '
                                            "needed where the install's automatic registration is inactive "
                                            "(s3mamba doctor says).")
    env.set_defaults(func=_env)
    doctor = subparsers.add_parser("doctor", help="check nnU-Net, trainer discovery, scan backend and GPU")
    doctor.set_defaults(func=_doctor)
