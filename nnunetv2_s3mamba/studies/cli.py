"""`s3mamba study list` and `s3mamba study run NAME -o DIR`."""
from __future__ import annotations

import argparse
from pathlib import Path

from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.studies.definitions import STUDIES

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `study` to the `s3mamba` parser."""
    parser = subparsers.add_parser(
        "study", help="list or run a declared study (dataset, split, trainer rows, budget, runs)",
        description="Runs a study of studies/definitions.py through nnU-Net's own tools: convert + split + plan "
                    "once, then train, predict and evaluate every row in every run; writes summary.md/.json "
                    "(pooled mIoU per lesion-size stratum, one value per run). Rerunning continues an interrupted "
                    "study.")
    actions = parser.add_subparsers(dest="study_action", required=True)
    actions.add_parser("list", help="the studies with their question, rows and runs").set_defaults(func=_list)
    run = actions.add_parser("run", help="run one study")
    run.add_argument("name", help="study name (`s3mamba study list`)")
    run.add_argument("-o", "--output", required=True, help="study folder (its own nnUNet_raw/_preprocessed/_results)")
    run.add_argument("--data", default=str(DEFAULT_DATA), help=f"folder holding the datasets (default {DEFAULT_DATA})")
    run.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    run.add_argument("--runs", type=int, default=None, help="number of runs (default: the study's)")
    run.add_argument("--rows", nargs="+", default=None, help="only these trainer rows of the study")
    run.add_argument("--workers", type=int, default=8, help="processes for planning and preprocessing")
    run.set_defaults(func=_run)


def _list(args: argparse.Namespace) -> int:
    for study in STUDIES.values():
        print(f"{study.name}: {study.question}\n    rows: {', '.join(study.rows)}; runs: {study.runs}; "
              f"dataset {study.dataset.dataset_id} ({study.dataset.kind})" + (f"; issue {study.issue}" if study.issue
                                                                             else ""))
    return 0


def _run(args: argparse.Namespace) -> int:
    from nnunetv2_s3mamba.quickstart.steps import StepFailed
    from nnunetv2_s3mamba.studies.runner import run_study

    study = STUDIES.get(args.name)
    try:
        if study is None:
            raise UserError(f"no study named {args.name!r}; `s3mamba study list` shows them: {', '.join(STUDIES)}")
        unknown = sorted(set(args.rows or ()) - set(study.rows))
        if unknown:
            raise UserError(f"{', '.join(unknown)} not among the rows of {study.name}: {', '.join(study.rows)}")
        summary = run_study(study, Path(args.output), Path(args.data), args.device, args.runs,
                            tuple(args.rows) if args.rows else None, args.workers)
    except (UserError, StepFailed) as error:
        print(f"s3mamba study: {error}")
        return 2
    print(summary.read_text())
    return 0
