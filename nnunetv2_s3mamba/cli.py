"""The `s3mamba` console command: a thin argparse layer over importable functions.

Each feature package contributes its subcommands through a `register(subparsers)` function, so this file
only lists them and dispatches.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from nnunetv2_s3mamba.analysis import cli as analysis_cli
from nnunetv2_s3mamba.setup_check import cli as setup_cli
from nnunetv2_s3mamba.architectures import pretrained_checkpoint as pretrained_cli
from nnunetv2_s3mamba.conversion import cli as conversion_cli
from nnunetv2_s3mamba.evaluation import cli as evaluation_cli
from nnunetv2_s3mamba.plans import cli as plans_cli
from nnunetv2_s3mamba.quickstart import cli as quickstart_cli
from nnunetv2_s3mamba.studies import cli as studies_cli
from nnunetv2_s3mamba.trainers import cli as trainers_cli

SUBCOMMAND_MODULES = [setup_cli, conversion_cli, evaluation_cli, plans_cli, quickstart_cli, trainers_cli,
                       pretrained_cli, studies_cli, analysis_cli]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3mamba",
        description="S3-Mamba for nnU-Net v2: set-up checks, dataset conversion, lesion-size evaluation, "
                    "multi-GPU batch configurations, the list of trainers, ImageNet initialisation, studies and "
                    "analyses.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
