"""`s3mamba demo`: thin argparse layer over quickstart.pipeline.run_demo."""
from __future__ import annotations

import argparse
import sys

from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.quickstart.pipeline import DEMO_TRAINER, QuickstartError, run_demo
from nnunetv2_s3mamba.quickstart.steps import StepFailed


def _run_demo(args: argparse.Namespace) -> int:
    try:
        run_demo(args.output, args.device, args.trainer, overwrite=args.overwrite)
    except (QuickstartError, UserError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StepFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `demo` to the `s3mamba` parser."""
    demo = subparsers.add_parser(
        "demo", help="quickstart: synthetic lesions -> plan -> train -> predict -> per-size evaluation",
        description="Runs nnU-Net's own tools on a generated lesion dataset with a short S3-Mamba schedule and "
                    "writes the lesion-size report, a bar chart and overlays of the smallest lesions.")
    demo.add_argument("-o", "--output", default="quickstart_output", help="output folder (default: %(default)s)")
    demo.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="training device (default: cpu)")
    demo.add_argument("--trainer", default=DEMO_TRAINER, help="nnU-Net trainer name (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="delete an earlier quickstart run in the output folder")
    demo.set_defaults(func=_run_demo)
