"""`s3mamba trainers [PATTERN]`: the trainer names nnU-Net's `-tr` accepts, with what each changes and why."""
from __future__ import annotations

import argparse

from nnunetv2_s3mamba.trainers.listing import format_listing, markdown_table


DESCRIPTION = ("Lists the S3-Mamba trainers and nnU-Net U-Net controls of trainers/registry.py by group: name, "
               "one-line description, and [bases: the class attributes it sets]. Without PATTERN the "
               "<row>_<N>epochs names are shown as their rule.")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `trainers` to the `s3mamba` parser."""
    parser = subparsers.add_parser("trainers", description=DESCRIPTION,
                                   help="list the trainer names for nnUNetv2_train -tr, with what each changes")
    parser.add_argument("pattern", nargs="?", help="fnmatch pattern ('S3MambaTrainer_*_15epochs'); without "
                                                   "wildcards, a substring ('TCMA')")
    parser.add_argument("--markdown", action="store_true", help="print the README's trainer table instead")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    text = markdown_table() if args.markdown else format_listing(args.pattern)
    if not text:
        print(f"no trainer name matches {args.pattern!r} (s3mamba trainers lists them all)")
        return 1
    print(text)
    return 0
