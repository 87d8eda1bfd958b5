"""The same batch size on every GPU under DDP.

nnU-Net splits the plan's batch over the GPUs unevenly when their number does not divide it (CVC-ClinicDB's plan,
batch 19 on 2 GPUs: 10 and 9). Its batch Dice then all-gathers per-sample (batch, classes) tensors, and NCCL's
all-gather, and the all-reduce in its backward pass, need the same size on every rank: with 10 against 9 the first
backward pass waits until NCCL's 10-minute watchdog aborts the run (seen with `-num_gpus 2` on two H200s: an
all-reduce of 18 = 2 x 9 elements on rank 1 timed out). The global batch is therefore rounded down to a multiple
of the number of GPUs, and a batch reduced to fit memory is the smallest over the ranks.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["DDPEvenBatchMixin", "even_global_batch", "smallest_over_ranks"]


def even_global_batch(planned: int, world_size: int) -> int:
    """Largest multiple of `world_size` not above `planned`; at least one sample per GPU."""
    return max(world_size, planned // world_size * world_size)


def smallest_over_ranks(value: int, device: torch.device) -> int:
    """min(value) over the DDP ranks (collective: every rank must call it); `value` itself without DDP."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


class DDPEvenBatchMixin:
    """Put before an nnUNetTrainer subclass: equal per-GPU batches (the plan's batch, rounded down) under DDP."""

    def _set_batch_size_and_oversample(self) -> None:
        if self.is_ddp:
            world_size = dist.get_world_size()
            planned = self.configuration_manager.batch_size
            even = even_global_batch(planned, world_size)
            if even != planned:
                # nnU-Net reads the batch from the configuration and splits it; the plans on disk stay untouched.
                self.configuration_manager.configuration["batch_size"] = even
                self.print_to_log_file(f"DDP: global batch {even} instead of the plan's {planned}, so that each of "
                                       f"the {world_size} GPUs gets {even // world_size} (nnU-Net's batch Dice "
                                       "needs the same batch on every GPU)")
        super()._set_batch_size_and_oversample()
