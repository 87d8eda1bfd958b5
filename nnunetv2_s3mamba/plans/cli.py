"""`s3mamba scale-batch` (the plan's batch on every GPU for `nnUNetv2_train ... -num_gpus N`) and `s3mamba
paper-input` (the paper's 256x256 inputs at batch 16)."""
from __future__ import annotations

import argparse
import sys

from nnunetv2_s3mamba.plans.paper_input import PAPER_BATCH_SIZE, PAPER_PATCH_SIZE, add_paper_input_configuration
from nnunetv2_s3mamba.plans.plans_file import PlansEditError
from nnunetv2_s3mamba.plans.scaled_batch import add_scaled_batch_configuration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `scale-batch` and `paper-input` to the `s3mamba` parser."""
    parser = subparsers.add_parser(
        "scale-batch", help="add the plans configuration <configuration>_x<N>: N x the batch, for -num_gpus N",
        description="Adds to nnUNetPlans.json a configuration that inherits --configuration with --gpus times its "
                    "batch, so that `nnUNetv2_train DATASET 2d_x2 FOLD -tr S3MambaTrainer -num_gpus 2` trains the "
                    "plan's batch on every GPU (nnU-Net otherwise splits it over the GPUs).")
    _dataset_arguments(parser)
    parser.add_argument("--gpus", type=int, required=True, help="number of GPUs you will pass to -num_gpus")
    parser.set_defaults(func=_run, edit=_scale_batch)

    parser = subparsers.add_parser(
        "paper-input", help="add the plans configuration <configuration>_paper: the paper's 256x256 inputs, batch 16",
        description="Adds to nnUNetPlans.json a configuration that inherits --configuration with the paper's input "
                    "size and batch (patch 256x256, batch 16; the paper's 600 epochs on CVC-ClinicDB are 16k "
                    "iterations of it), so that `nnUNetv2_train DATASET 2d_paper FOLD -tr S3MambaTrainer` and "
                    "nnU-Net's own trainers run the paper's iterations on the paper's input size. Preprocessing is "
                    "the base configuration's; nnU-Net crops patches of that size instead of resizing the images.")
    _dataset_arguments(parser)
    parser.add_argument("--patch", type=int, nargs="+", default=list(PAPER_PATCH_SIZE),
                        help=f"patch size (default {' '.join(map(str, PAPER_PATCH_SIZE))})")
    parser.add_argument("--batch", type=int, default=PAPER_BATCH_SIZE, help=f"batch (default {PAPER_BATCH_SIZE})")
    parser.set_defaults(func=_run, edit=_paper_input)


def _dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="dataset name or ID, as for nnUNetv2_train")
    parser.add_argument("-c", "--configuration", default="2d", help="planned configuration to build on (default 2d)")
    parser.add_argument("-p", "--plans", default="nnUNetPlans", help="plans identifier (default nnUNetPlans)")


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand's plans edit; print what to type next, or the error (exit 2, plans untouched)."""
    try:
        print(args.edit(args))
    except PlansEditError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _scale_batch(args: argparse.Namespace) -> str:
    name, batch, plans_file = add_scaled_batch_configuration(args.dataset, args.gpus, args.configuration, args.plans)
    return (f"{plans_file}: configuration {name} = {args.configuration} with batch {batch} "
            f"({batch // args.gpus} per GPU).\n"
            f"Train:   nnUNetv2_train {args.dataset} {name} FOLD -tr S3MambaTrainer -num_gpus {args.gpus}\n"
            f"Predict: nnUNetv2_predict ... -d {args.dataset} -c {name} -tr S3MambaTrainer -f FOLD")


def _paper_input(args: argparse.Namespace) -> str:
    name, plans_file = add_paper_input_configuration(args.dataset, args.configuration, args.patch, args.batch,
                                                     args.plans)
    return (f"{plans_file}: configuration {name} = {args.configuration} with patch "
            f"{'x'.join(map(str, args.patch))} and batch {args.batch}.\n"
            f"Train:   nnUNetv2_train {args.dataset} {name} FOLD -tr S3MambaTrainer\n"
            f"Predict: nnUNetv2_predict ... -d {args.dataset} -c {name} -tr S3MambaTrainer -f FOLD")
