"""Fit the batch size to the available RAM when training on the CPU, by the GPU's rule (`batch_size_that_fits`).

nnU-Net's plan sizes the batch for a GPU and uses it as given on the CPU, where a ResEnc plan's batch can ask for
more memory than the machine has and make every iteration minutes long (issue 26). The CPU has no allocator
statistics to read a peak from, so the per-sample cost is measured as the activations a training step keeps for
its backward pass (autograd's saved tensors, each storage counted once, parameters left out) at batch 1 and 2;
they dominate the step's memory. The available RAM is Linux's MemAvailable (free plus reclaimable cache), never
more than a container's cgroup limit leaves, or else the free pages `os.sysconf` reports.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from nnunetv2_s3mamba.trainers.gpu_memory import ADAMW_STATE_COPIES, batch_size_that_fits

__all__ = ["available_ram_bytes", "fit_batch_size_on_cpu", "read_available_ram", "saved_activation_bytes"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Lower than the GPU's: the saved tensors leave out the backward pass's temporary gradients, and the RAM is shared
# with nnU-Net's data-loader workers and their batch queues.
CPU_SAFETY_FRACTION = 0.7


def available_ram_bytes(meminfo: str | None, cgroup_limit: str | None, cgroup_usage: str | None) -> int | None:
    """RAM a new allocation can get, from the texts of /proc/meminfo and cgroup v2's memory.max / memory.current
    (None where a file is absent); None when nothing says."""
    available = None
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) * 1024  # the kernel writes kB
    if cgroup_limit is not None and cgroup_usage is not None and cgroup_limit.strip() != "max":
        left = max(0, int(cgroup_limit) - int(cgroup_usage))
        available = left if available is None else min(available, left)
    return available


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_available_ram() -> int | None:
    """`available_ram_bytes` of this machine and container; the free pages where /proc is missing (macOS)."""
    available = available_ram_bytes(_read(Path("/proc/meminfo")), _read(CGROUP_ROOT / "memory.max"),
                                    _read(CGROUP_ROOT / "memory.current"))
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def saved_activation_bytes(network: nn.Module, batch: int, input_shape: tuple[int, ...]) -> int:
    """Bytes of the input and of the tensors autograd keeps for the backward pass of one forward at `batch`."""
    parameter_storages = {p.untyped_storage().data_ptr() for p in network.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    x = torch.randn(batch, *input_shape)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        outputs = network(x)
    del outputs
    return x.nbytes + sum(storages.values())


def fit_batch_size_on_cpu(network: nn.Module, planned_batch: int,
                          input_shape: tuple[int, ...]) -> tuple[int, dict | None]:
    """Largest batch not above the plan's whose training step fits the available RAM, with what decided it;
    the plan's batch and None where the available RAM cannot be read. A copy is probed (weights and BN stats
    untouched)."""
    available = read_available_ram()
    if available is None:
        return planned_batch, None
    probe = copy.deepcopy(network).train()
    peaks = [saved_activation_bytes(probe, batch, input_shape) for batch in (1, 2)]
    del probe
    # the weights are in RAM already; their gradients and AdamW's two moments are not yet
    parameter_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
    fitted = batch_size_that_fits(peaks[0], peaks[1], (1 + ADAMW_STATE_COPIES) * parameter_bytes, available,
                                  CPU_SAFETY_FRACTION)
    details = {"peak_batch1_GiB": peaks[0] / 2 ** 30, "peak_batch2_GiB": peaks[1] / 2 ** 30,
               "free_GiB": available / 2 ** 30, "fits": fitted, "planned": planned_batch, "memory": "RAM available"}
    return min(planned_batch, fitted), details
