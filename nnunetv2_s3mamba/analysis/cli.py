"""`s3mamba analyze NAME ...`: one subcommand per analysis module, its arguments and docstring its own."""
from __future__ import annotations

import argparse
import importlib

from nnunetv2_s3mamba.errors import UserError

ANALYSES = ("gap_by_image", "boundary_errors", "largest_component", "speck_distances")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `analyze` to the `s3mamba` parser."""
    parser = subparsers.add_parser("analyze", help="analyses of predictions behind docs/RESULTS.md (JSON out)")
    analyses = parser.add_subparsers(dest="analysis", required=True)
    for name in ANALYSES:
        module = importlib.import_module(f"nnunetv2_s3mamba.analysis.{name}")
        sub = analyses.add_parser(name.replace("_", "-"), help=module.__doc__.splitlines()[0],
                                  description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(func=lambda args, run=module.run: _run(run, args))


def _run(run, args: argparse.Namespace) -> int:
    try:
        return run(args)
    except UserError as error:
        print(f"s3mamba analyze: {error}")
        return 2
