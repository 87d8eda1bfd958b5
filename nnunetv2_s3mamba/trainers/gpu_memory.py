"""Fit the batch size to the GPU by measuring S3-Mamba's memory instead of trusting the U-Net estimate.

nnU-Net's planner sizes batches with a PlainConvUNet memory model. S3-Mamba needs several times the U-Net's memory
per sample (docs/BENCHMARKS.md), so the planned batch can run out of memory on smaller cards. Measuring one training step at batch 1 and 2 on a copy of the network
gives the per-sample cost on this card, scan backend and precision; the batch is then the largest that fits the
free memory, never larger than the plan's. The rule and its log line also serve the CPU, where `cpu_memory.py`
measures the per-sample cost in RAM.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

SAFETY_FRACTION = 0.85
ADAMW_STATE_COPIES = 2  # exp_avg and exp_avg_sq, fp32, one each per parameter


def batch_size_that_fits(peak_batch1: int, peak_batch2: int, fixed_bytes: int, available_bytes: int,
                         fraction: float = SAFETY_FRACTION) -> int:
    """Largest batch whose linear memory model `fixed + intercept + b * per_sample` stays in `fraction` of
    `available_bytes`; at least 1 (nnU-Net cannot train on less, and the OOM message is then the clearest)."""
    per_sample = max(peak_batch2 - peak_batch1, 1)
    intercept = peak_batch1 - per_sample
    return max(1, int((available_bytes * fraction - fixed_bytes - intercept) // per_sample))


def _training_step_peak(network: nn.Module, batch: int, input_shape: tuple[int, ...], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    with torch.autocast("cuda"):
        outputs = network(torch.randn(batch, *input_shape, device=device))
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = sum(output.float().mean() for output in outputs)
    loss.backward()
    peak = torch.cuda.max_memory_allocated(device) - start
    network.zero_grad(set_to_none=True)
    return peak


def fit_batch_size(network: nn.Module, planned_batch: int, input_shape: tuple[int, ...],
                   device: torch.device) -> tuple[int, dict]:
    """Measured batch size for `network` on the CUDA `device` (a copy is probed: weights and BN stats untouched)."""
    probe = copy.deepcopy(network).train()
    peaks = [_training_step_peak(probe, batch, input_shape, device) for batch in (1, 2)]
    del probe
    torch.cuda.empty_cache()
    parameter_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
    free_bytes, _ = torch.cuda.mem_get_info(device)
    fitted = batch_size_that_fits(peaks[0], peaks[1], ADAMW_STATE_COPIES * parameter_bytes, free_bytes)
    details = {"peak_batch1_GiB": peaks[0] / 2 ** 30, "peak_batch2_GiB": peaks[1] / 2 ** 30,
               "free_GiB": free_bytes / 2 ** 30, "fits": fitted, "planned": planned_batch, "memory": "GPU memory free"}
    return min(planned_batch, fitted), details


def batch_size_message(batch: int, details: dict) -> str:
    """The log line for a fitted batch: the batch, whether and why the plan's was capped, and the measurement."""
    measured = (f"{details['fits']} fit in {details['free_GiB']:.1f} GiB {details['memory']}; a training step "
                f"measured {details['peak_batch1_GiB']:.2f}/{details['peak_batch2_GiB']:.2f} GiB at batch 1/2")
    if batch < details["planned"]:
        return (f"S3-Mamba: batch size capped to {batch} from the plan's {details['planned']} ({measured}; nnU-Net "
                "sizes the plan's batch with a U-Net GPU memory model)")
    return f"S3-Mamba: batch size {batch} as planned ({measured})"
