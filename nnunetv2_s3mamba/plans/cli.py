"""`s3mamba scale-batch`: the plan's batch on every GPU for `nnUNetv2_train ... -num_gpus N`."""
from __future__ import annotations

import argparse
import sys

from nnunetv2_s3mamba.plans.scaled_batch import PlansEditError, add_scaled_batch_configuration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `scale-batch` to the `s3mamba` parser."""
    parser = subparsers.add_parser(
        "scale-batch", help="add the plans configuration <configuration>_x<N>: N x the batch, for -num_gpus N",
        description="Adds to nnUNetPlans.json a configuration that inherits --configuration with --gpus times its "
                    "batch, so that `nnUNetv2_train DATASET 2d_x2 FOLD -tr S3MambaTrainer -num_gpus 2` trains the "
                    "plan's batch on every GPU (nnU-Net otherwise splits it over the GPUs).")
    parser.add_argument("dataset", help="dataset name or ID, as for nnUNetv2_train")
    parser.add_argument("--gpus", type=int, required=True, help="number of GPUs you will pass to -num_gpus")
    parser.add_argument("-c", "--configuration", default="2d", help="configuration to scale (default 2d)")
    parser.add_argument("-p", "--plans", default="nnUNetPlans", help="plans identifier (default nnUNetPlans)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        name, batch, plans_file = add_scaled_batch_configuration(args.dataset, args.gpus, args.configuration,
                                                                 args.plans)
    except PlansEditError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{plans_file}: configuration {name} = {args.configuration} with batch {batch} "
          f"({batch // args.gpus} per GPU).\n"
          f"Train:   nnUNetv2_train {args.dataset} {name} FOLD -tr S3MambaTrainer -num_gpus {args.gpus}\n"
          f"Predict: nnUNetv2_predict ... -d {args.dataset} -c {name} -tr S3MambaTrainer -f FOLD")
    return 0
