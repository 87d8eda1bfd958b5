"""The compiled CPU scan: S3-Mamba's no-gradient selective scan on machines without a GPU.

A PyTorch scan needs several passes over L x D x N tensors per chunk; `cpu_scan_kernel.cpp` runs each channel's
recurrence in one pass with vectorised exp/log1p, 26x faster than a step-by-step loop on the 2-core dev box
(docs/NETWORK.md). It is compiled on first use with PyTorch's C++ extension loader (a C++ compiler and ninja are
needed, about 30 s, cached in PyTorch's extension folder) for the instruction set PyTorch reports for this CPU, so a
cache shared between machines never runs code their CPUs lack. Where it cannot be built, or S3MAMBA_CPU_KERNEL=0,
`selective_scan` keeps using the pure-PyTorch scan, which gives the same results.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Optional

import torch

__all__ = ["load_cpu_scan_kernel", "cpu_scan_kernel_status", "kernel_selective_scan", "CPU_KERNEL_ENV_VAR"]

CPU_KERNEL_ENV_VAR = "S3MAMBA_CPU_KERNEL"
SOURCE = Path(__file__).with_name("cpu_scan_kernel.cpp")
# Instruction-set flags per PyTorch CPU capability; -ffast-math lets GCC/Clang call glibc's vector exp and log1p,
# -fopenmp makes at::parallel_for (inlined into the extension) actually use PyTorch's threads.
CAPABILITY_FLAGS = {"AVX512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"],
                    "AVX2": ["-mavx2", "-mfma"]}


def _enabled() -> bool:
    return os.environ.get(CPU_KERNEL_ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


@functools.lru_cache(maxsize=1)
def _build() -> tuple[Optional[ModuleType], str]:
    """(module, "compiled for <capability>") or (None, why not). Tried once per process."""
    capability = torch.backends.cpu.get_cpu_capability()
    print("S3-Mamba: loading the compiled CPU scan (the first use on a machine compiles it: about 30 s)",
          file=sys.stderr, flush=True)
    try:
        from torch.utils.cpp_extension import load
        module = load(name=f"s3mamba_cpu_scan_{capability.lower()}", sources=[str(SOURCE)],
                      extra_cflags=["-O3", "-ffast-math", "-fopenmp", *CAPABILITY_FLAGS.get(capability, [])],
                      extra_ldflags=["-fopenmp"], verbose=False)
    except Exception as error:  # no compiler, no ninja, unwritable cache folder, unsupported platform...
        message = f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
        warnings.warn(f"S3-Mamba's compiled CPU scan could not be built ({message}); using the PyTorch scan, which is "
                      f"slower on the CPU but gives the same results. Install a C++ compiler and ninja to build it, "
                      f"or set {CPU_KERNEL_ENV_VAR}=0 to skip the attempt.", RuntimeWarning, stacklevel=3)
        return None, f"build failed: {message}"
    return module, f"compiled for {capability}"


def load_cpu_scan_kernel() -> Optional[ModuleType]:
    """The compiled module, building it on the first call; None where disabled or not buildable."""
    return _build()[0] if _enabled() else None


def cpu_scan_kernel_status() -> str:
    """For reports: disabled, not built yet (built on the first CPU inference), compiled for X, or build failed."""
    if not _enabled():
        return f"disabled ({CPU_KERNEL_ENV_VAR}=0)"
    return _build()[1] if _build.cache_info().currsize else "not built yet (built on first CPU inference)"


def kernel_selective_scan(kernel: ModuleType, u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor,
                          B: torch.Tensor, C: torch.Tensor, D: Optional[torch.Tensor],
                          delta_bias: Optional[torch.Tensor], delta_softplus: bool) -> torch.Tensor:
    """`selective_scan`'s arguments (fp32, CPU) -> y, through the compiled kernel (B and C made time-major)."""
    B, C = (t[:, None] if t.dim() == 3 else t for t in (B, C))
    zeros = u.new_zeros(u.shape[1])
    return kernel.selective_scan_forward(
        u.contiguous(), delta.contiguous(), A.contiguous(), B.transpose(-1, -2).contiguous(),
        C.transpose(-1, -2).contiguous(), (D if D is not None else zeros).contiguous(),
        (delta_bias if delta_bias is not None else zeros).contiguous(), delta_softplus)
