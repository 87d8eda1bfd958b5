"""S3-Mamba's training step under DDP, without nnU-Net's data loading: how the network itself scales. Prints JSON.

Each configuration wraps the network the way nnU-Net does (`-num_gpus N`: SyncBatchNorm conversion, then DDP) and
times training steps at a fixed per-GPU batch (`make_training_step` of network_gpu.py: bf16 autocast, deep
supervision, GradScaler, S3MambaTrainer's fused AdamW), once with nnU-Net's SyncBatchNorm and once with our per-GPU batch norms
(`trainers/ddp_norm.py`, what S3MambaTrainer does). Run it with torchrun; rank 0 prints:

    torchrun --nproc_per_node 2 benchmarks/ddp_step.py --batch 9      # the CVC plan's 18 split over 2 GPUs
    torchrun --nproc_per_node 1 benchmarks/ddp_step.py --batch 9 18   # one GPU, same per-GPU and same global batch
    (add --compile for a torch.compile'd row, compiled before the DDP wrap as nnU-Net does)

Images/s = batch x GPUs / step time; compare the 2-GPU figure with the 1-GPU one at the global batch.
CPU smoke run (gloo; SyncBatchNorm cannot run on CPUs, so only the per-GPU row):
    torchrun --nproc_per_node 2 benchmarks/ddp_step.py --batch 1 --patch 64 64 --preset small --steps 1 --warmup 1
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from network_gpu import make_training_step, synchronize
from nnunetv2_s3mamba.architectures import build_s3mamba
from nnunetv2_s3mamba.trainers.ddp_norm import unsync_batch_norms
from nnunetv2_s3mamba.trainers.s3mamba_trainer import paper_adamw


def time_steps(batch: int, patch: list[int], preset: str, sync_bn: bool, compile_network: bool, steps: int,
               warmup: int, device: torch.device) -> float:
    """Milliseconds per DDP training step (the slowest rank's mean over `steps`)."""
    torch.manual_seed(dist.get_rank())
    network = build_s3mamba(preset, 3, 2, True).to(device)
    if compile_network:
        network = torch.compile(network)
    if device.type == "cuda":  # nnU-Net's order; DDP refuses SyncBatchNorm on CPU modules
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    network = DDP(network, device_ids=[device.index] if device.type == "cuda" else None)
    if not sync_bn:
        unsync_batch_norms(network)
    optimizer = paper_adamw(network, 1e-4, 1e-2)
    x = torch.randn(batch, 3, *patch, device=device)
    target = torch.randint(0, 2, (batch, 1, *patch), device=device).float()
    step = make_training_step(network, optimizer, x, target, torch.bfloat16)
    for _ in range(warmup):
        step()
    synchronize(device)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    elapsed = torch.tensor([(time.perf_counter() - start) / steps * 1000], device=device)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    return float(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[9], help="per-GPU batch sizes to time")
    parser.add_argument("--patch", type=int, nargs=2, default=[320, 384])
    parser.add_argument("--preset", default="vmamba-s")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true",
                        help="also time the network under torch.compile (nnUNet_compile=1; per-GPU norms)")
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    dist.init_process_group("nccl" if on_gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if on_gpu else torch.device("cpu")
    if on_gpu:
        torch.cuda.set_device(device)
    torch.backends.cudnn.benchmark = True
    runs = []
    configurations = [(True, False)] if on_gpu else []            # (SyncBatchNorm, compiled)
    configurations += [(False, False)] + ([(False, True)] if args.compile else [])
    for batch in args.batch:
        for sync_bn, compile_network in configurations:
            ms = time_steps(batch, args.patch, args.preset, sync_bn, compile_network, args.steps, args.warmup, device)
            runs.append({"per_gpu_batch": batch, "gpus": world, "norm": "SyncBatchNorm" if sync_bn else "per-GPU",
                         "compiled": compile_network, "step_ms": round(ms, 1),
                         "images_per_s": round(batch * world / ms * 1000, 1)})
    if rank == 0:
        print(json.dumps({"benchmark": "ddp_step", "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
                          "preset": args.preset,
                          "patch": args.patch, "steps": args.steps, "runs": runs}, indent=1))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
