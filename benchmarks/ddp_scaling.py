"""Training throughput of `nnUNetv2_train ... -num_gpus N` for several N on one machine. Prints JSON.

Each GPU count trains the same trainer, dataset, fold and plan from scratch into its own results folder
(`$nnUNet_results/ddp_scaling_<N>gpu[_<configuration>]`, so runs never overwrite each other or a real result; the
command's output is in the `.log` of the same name beside it). nnU-Net splits the plan's batch over the ranks, and our trainers round
it down to a multiple of N (`trainers/ddp_batch.py`); images/s of an epoch = global batch x iterations per epoch /
the epoch time nnU-Net logs (its 250 training and 50 validation iterations).
The first epoch carries cuDNN autotuning and worker start-up, so the figure to compare is the last epoch's.

`--per-gpu-batch` keeps the plan's batch on every GPU instead (N GPUs train a global batch N times the plan's):
it adds to the plans a configuration `2d_x<N>` that inherits nnU-Net's `2d` (same patch and preprocessed data) with
the batch multiplied (`s3mamba scale-batch`, nnunetv2_s3mamba/plans/) and trains that on N GPUs.
This is a different optimisation (a larger batch), so it answers "how much faster does a larger run go", not
"the same training, faster".

`--compile` trains with `nnUNet_compile=1` (S3MambaTrainer compiles only on that request) into
`ddp_scaling_<N>gpu[_<configuration>]_compiled`. The GPUs used are the first N of `CUDA_VISIBLE_DEVICES` (all
GPUs when it is unset), so runs on disjoint GPUs of one machine can go side by side.

    python benchmarks/ddp_scaling.py --dataset 501 --trainer S3MambaTrainer_2epochs --gpus 1 2 [--per-gpu-batch]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from nnunetv2_s3mamba.plans import add_scaled_batch_configuration
from nnunetv2_s3mamba.trainers.ddp_batch import even_global_batch

EPOCH_TIME = re.compile(r"Epoch time: ([0-9.]+) s")
BATCH_LINE = re.compile(r"S3-Mamba: batch size (\d+) ")


def visible_gpus(gpus: int, visible: str | None) -> str:
    """`CUDA_VISIBLE_DEVICES` for a run on `gpus` GPUs: the first `gpus` of `visible` (0..gpus-1 when unset)."""
    available = [d.strip() for d in visible.split(",") if d.strip()] if visible else [str(i) for i in range(gpus)]
    if len(available) < gpus:
        raise SystemExit(f"--gpus {gpus} needs {gpus} GPUs but CUDA_VISIBLE_DEVICES={visible} lists {len(available)}")
    return ",".join(available[:gpus])


def run_training(dataset: str, configuration: str, trainer: str, fold: str, gpus: int, results: Path,
                 compile_network: bool = False) -> tuple[float, Path]:
    """nnUNetv2_train with `gpus` GPUs into `results`; returns (wall seconds, the fold's output folder)."""
    env = dict(os.environ, nnUNet_results=str(results),
               CUDA_VISIBLE_DEVICES=visible_gpus(gpus, os.environ.get("CUDA_VISIBLE_DEVICES")),
               nnUNet_compile="1" if compile_network else "f")
    command = ["nnUNetv2_train", dataset, configuration, fold, "-tr", trainer, "-num_gpus", str(gpus)]
    log = results.parent / f"{results.name}.log"
    start = time.perf_counter()
    # Output to a file, not a pipe: data-augmentation workers orphaned by a crash would hold a pipe open forever.
    with open(log, "w") as out:
        completed = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        sys.stderr.write(log.read_text()[-8000:])
        raise SystemExit(f"{' '.join(command)} failed with exit code {completed.returncode} (log above, full: {log})")
    folds = list(results.glob(f"Dataset*/{trainer}__*__{configuration}/fold_{fold}"))
    assert len(folds) == 1, f"expected one result folder for {trainer} fold {fold} under {results}, found {folds}"
    return wall, folds[0]


def summarise(fold_dir: Path, configuration: str, gpus: int, wall_s: float, iterations: int) -> dict:
    """Epoch times and images/s from nnU-Net's training log and plans in `fold_dir`."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    log = sorted(fold_dir.glob("training_log_*.txt"))[-1].read_text()
    epoch_times = [float(t) for t in EPOCH_TIME.findall(log)]
    plans = PlansManager(str(fold_dir.parent / "plans.json"))
    planned_global = plans.get_configuration(configuration).batch_size
    batch = BATCH_LINE.search(log)
    # Our trainers give every rank the same batch (ddp_batch.py); rank 0 logs its share.
    global_batch = int(batch.group(1)) * gpus if batch else even_global_batch(planned_global, gpus)
    return {"gpus": gpus, "configuration": configuration, "global_batch": global_batch, "epoch_times_s": epoch_times,
            "images_per_s_last_epoch": round(global_batch * iterations / epoch_times[-1], 1),
            "command_wall_s": round(wall_s, 1), "results": str(fold_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--trainer", default="S3MambaTrainer_2epochs")
    parser.add_argument("--fold", default="0")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=250, help="training iterations per epoch of the trainer")
    parser.add_argument("--per-gpu-batch", action="store_true",
                        help="every GPU trains the plan's batch (global batch x N) instead of a share of it")
    parser.add_argument("--compile", action="store_true", help="train with nnUNet_compile=1 (torch.compile)")
    args = parser.parse_args()
    import torch
    runs = []
    for gpus in args.gpus:
        configuration = add_scaled_batch_configuration(args.dataset, gpus)[0] \
            if args.per_gpu_batch and gpus > 1 else "2d"
        suffix = ("" if configuration == "2d" else f"_{configuration}") + ("_compiled" if args.compile else "")
        results = Path(os.environ["nnUNet_results"]) / f"ddp_scaling_{gpus}gpu{suffix}"
        wall, fold_dir = run_training(args.dataset, configuration, args.trainer, args.fold, gpus, results,
                                      args.compile)
        runs.append(dict(summarise(fold_dir, configuration, gpus, wall, args.iterations), compiled=args.compile))
    base = min(runs, key=lambda run: run["gpus"])
    for run in runs:
        run[f"speedup_vs_{base['gpus']}gpu"] = round(run["images_per_s_last_epoch"] / base["images_per_s_last_epoch"], 2)
    print(json.dumps({"benchmark": "ddp_scaling", "device": torch.cuda.get_device_name(0),
                      "gpus_on_machine": torch.cuda.device_count(), "trainer": args.trainer,
                      "dataset": args.dataset, "fold": args.fold, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
