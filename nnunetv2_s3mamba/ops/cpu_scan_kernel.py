"""The compiled CPU scan: S3-Mamba's no-gradient selective scan on machines without a GPU.

A PyTorch scan needs several passes over L x D x N tensors per chunk; `cpu_scan_kernel.cpp` runs each channel's
recurrence in one pass with vectorised exp/log1p, where a PyTorch loop pays one operator call per step
(speed: docs/NETWORK.md). It is compiled on first use with PyTorch's C++ extension loader (a C++ compiler and ninja are
needed, about 30 s, cached in a folder of its own per PyTorch version under PyTorch's extension folder) for the
instruction set PyTorch reports for this CPU, so a cache shared between machines never runs code their CPUs lack.
Where it cannot be built, or S3MAMBA_CPU_KERNEL=0, `selective_scan` keeps using the pure-PyTorch scan, which gives
the same results.
"""
from __future__ import annotations

import functools
import os
import re
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Optional

import torch

__all__ = ["load_cpu_scan_kernel", "cpu_scan_kernel_status", "kernel_selective_scan", "build_directory_for",
           "CPU_KERNEL_ENV_VAR"]

CPU_KERNEL_ENV_VAR = "S3MAMBA_CPU_KERNEL"
SOURCE = Path(__file__).with_name("cpu_scan_kernel.cpp")
# Instruction-set flags per PyTorch CPU capability; -ffast-math lets GCC/Clang call glibc's vector exp and log1p,
# -fopenmp makes at::parallel_for (inlined into the extension) actually use PyTorch's threads.
CAPABILITY_FLAGS = {"AVX512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"],
                    "AVX2": ["-mavx2", "-mfma"]}


# A build takes about 30 s; a build lock older than this was left by an interrupted build.
STALE_LOCK_SECONDS = 300


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
        build_directory = build_directory_for(capability)
        build_directory.mkdir(parents=True, exist_ok=True)
        _wait_for_lock(build_directory / "lock")
        module = load(name=f"s3mamba_cpu_scan_{capability.lower()}", sources=[str(SOURCE)],
                      extra_cflags=["-O3", "-ffast-math", "-fopenmp", *CAPABILITY_FLAGS.get(capability, [])],
                      extra_ldflags=["-fopenmp"], build_directory=str(build_directory), verbose=False)
    except Exception as error:  # no compiler, no ninja, unwritable cache folder, stale lock, unsupported platform...
        message = f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
        warnings.warn(f"S3-Mamba's compiled CPU scan could not be built ({message}); using the PyTorch scan, which is "
                      f"slower on the CPU but gives the same results. Install a C++ compiler and ninja to build it, "
                      f"or set {CPU_KERNEL_ENV_VAR}=0 to skip the attempt.", RuntimeWarning, stacklevel=3)
        return None, f"build failed: {message}"
    return module, f"compiled for {capability}"


def build_directory_for(capability: str) -> Path:
    """Our own build folder per PyTorch version and instruction set, under PyTorch's extension root.

    PyTorch's default folder is shared by every PyTorch version of one Python and CUDA flavour. PyTorch 2.14 keeps
    its build lock file there for good (an advisory lock), and older versions wait for as long as that file exists:
    with a shared folder, one CPU prediction under 2.14 made every later one under 2.11 hang without a message
    (seen on this project's dev box).
    """
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if not root:
        from torch.utils.cpp_extension import get_default_build_root
        root = get_default_build_root()
    torch_version = re.sub(r"[^A-Za-z0-9_.-]", "_", torch.__version__)
    return Path(root) / f"s3mamba_cpu_scan_torch{torch_version}_{capability.lower()}"


def _lock_file_blocks() -> bool:
    """True for PyTorch versions whose extension builds wait for as long as the lock file exists (before 2.14)."""
    from torch.utils import cpp_extension
    return hasattr(cpp_extension, "FileBaton")


def _wait_for_lock(lock: Path) -> None:
    """Wait for a build in progress, at most until its lock is STALE_LOCK_SECONDS old; raise for a stale lock.

    PyTorch before 2.14 waits forever on a lock file left by a build that was interrupted (Ctrl-C during the
    first CPU prediction), so every later prediction would hang. We fall back to the PyTorch scan instead and
    say which file to delete.
    """
    if not _lock_file_blocks():
        return
    while lock.exists():
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:  # released while we looked
            return
        if age > STALE_LOCK_SECONDS:
            raise RuntimeError(f"the build lock {lock} is {age / 60:.0f} minutes old (an interrupted build left it); "
                               "delete that file to build the compiled CPU scan")
        time.sleep(1.0)


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
