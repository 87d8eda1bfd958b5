"""Which selective-scan backend runs: the user's choice (argument or S3MAMBA_SCAN_BACKEND), checked, or "auto".

- "mamba_ssm": mamba-ssm's fused CUDA kernel (`mamba_ssm_scan.py`). Imported lazily, because nnU-Net imports our
  trainers while it searches for trainer classes and any import error then (a missing or broken compiled
  extension) aborts the search.
- "triton": our Triton kernel for SS2D's four directions (`triton_scan.py`).
- "torch": our PyTorch scan (`reference_scan.py`; on the CPU without gradients `inference_scan.py` and the
  compiled `cpu_scan_kernel.py`), which runs anywhere.
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import Callable, Optional

import torch

from nnunetv2_s3mamba.ops.cpu_scan_kernel import cpu_scan_kernel_status
from nnunetv2_s3mamba.ops.reference_scan import DEFAULT_CHUNK_SIZE

__all__ = ["SCAN_BACKENDS", "BACKEND_ENV_VAR", "resolve_scan_backend", "scan_backend_in_graph",
           "scan_backend_report", "import_mamba_kernel"]

SCAN_BACKENDS = ("auto", "torch", "mamba_ssm", "triton")
BACKEND_ENV_VAR = "S3MAMBA_SCAN_BACKEND"


@functools.lru_cache(maxsize=1)
def import_mamba_kernel() -> tuple[Optional[Callable], str]:
    """Returns (selective_scan_fn or None, version or the import error). Cached: the import is tried once."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        import mamba_ssm
    except Exception as error:  # an ImportError, or an OSError/RuntimeError from a broken compiled extension
        return None, f"{type(error).__name__}: {error}"
    return selective_scan_fn, getattr(mamba_ssm, "__version__", "unknown")


@functools.lru_cache(maxsize=None)
def _triton_import_error() -> Optional[str]:
    """None where Triton imports, else the error (the "triton" backend's kernel is Triton code)."""
    try:
        import triton  # noqa: F401
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@functools.lru_cache(maxsize=None)
def _triton_kernel_error(device_index: int) -> Optional[str]:
    """None where our Triton scan compiles and runs, forward and backward, on this CUDA device; else why not.

    Tried once per device and process on tiny inputs: "auto" picks the kernel on GPUs it never ran on, and a GPU
    that cannot run it must get the PyTorch scan from the start (with a warning that says why), not an error in the
    middle of training.
    """
    if not torch.cuda.is_available():
        return "no CUDA device"
    try:
        from nnunetv2_s3mamba.ops.triton_scan import smoke_test
        smoke_test(torch.device("cuda", device_index))
    except Exception as error:  # a Triton compile or launch error, or an import error of its backend
        message = f"{type(error).__name__}: {str(error)[:300]}"
        warnings.warn(f"S3-Mamba's Triton scan cannot run on CUDA device {device_index} ({message}); using the "
                      f"PyTorch scan, which is much slower on a GPU. Install mamba-ssm, or set {BACKEND_ENV_VAR}=torch "
                      "to silence this.", RuntimeWarning, stacklevel=2)
        return message
    return None


def _auto_cuda_backend(kernel: Optional[Callable]) -> str:
    """mamba-ssm where it imports, else our Triton kernel where it runs on the current GPU, else the PyTorch scan."""
    if kernel is not None:
        return "mamba_ssm"
    if _triton_import_error() is None and _triton_kernel_error(torch.cuda.current_device()
                                                               if torch.cuda.is_available() else 0) is None:
        return "triton"
    return "torch"


def _requested_backend(backend: Optional[str]) -> str:
    requested = (backend if backend is not None else os.environ.get(BACKEND_ENV_VAR, "auto")).strip().lower()
    if requested not in SCAN_BACKENDS:
        source = "argument scan_backend" if backend is not None else f"environment variable {BACKEND_ENV_VAR}"
        raise ValueError(f"Unknown selective-scan backend {requested!r} (from the {source}); "
                         f"choose one of {', '.join(SCAN_BACKENDS)}.")
    return requested


def resolve_scan_backend(backend: Optional[str], on_cuda: bool) -> str:
    """The backend that runs for tensors on CUDA (`on_cuda`) or elsewhere: "torch", "mamba_ssm" or "triton".

    `backend` None reads S3MAMBA_SCAN_BACKEND (default "auto"). "auto" on CUDA takes mamba-ssm's kernel where it
    is importable, else our Triton kernel where Triton imports and the kernel runs on the current GPU (tried once),
    else the PyTorch scan; elsewhere the PyTorch scan. Triton comes with PyTorch's Linux CUDA wheels, so a user
    without mamba-ssm's compiled extension, which PyPI ships only as source, still gets a GPU kernel (their speeds:
    docs/BENCHMARKS.md). Asking for "mamba_ssm" or "triton" where it cannot run is an error, not a silent
    fallback: a user who asked for a kernel must not measure or train the slow path unknowingly.
    """
    requested = _requested_backend(backend)
    if requested == "torch":
        return "torch"
    if requested == "triton":
        error = _triton_import_error()
        if error is not None:
            raise RuntimeError(f"Selective-scan backend 'triton' was requested but triton cannot be imported "
                               f"({error}). Install it (pip install triton) or set {BACKEND_ENV_VAR}=auto.")
        if not on_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError("Selective-scan backend 'triton' needs CUDA tensors (or Triton's interpreter, "
                               f"TRITON_INTERPRET=1, for tests); these are on the CPU. Set {BACKEND_ENV_VAR}=auto "
                               "or torch to run on the CPU.")
        return "triton"
    kernel, detail = import_mamba_kernel()
    if requested == "auto":
        return _auto_cuda_backend(kernel) if on_cuda else "torch"
    if kernel is None:
        raise RuntimeError(f"Selective-scan backend 'mamba_ssm' was requested but mamba_ssm cannot be imported "
                           f"({detail}). Install it "
                           f"(pip install --no-build-isolation 'nnunetv2_s3mamba[cuda-kernels]') "
                           f"or set {BACKEND_ENV_VAR}=auto or torch.")
    if not on_cuda:
        raise RuntimeError("Selective-scan backend 'mamba_ssm' needs CUDA tensors; these are on the CPU. "
                           f"Set {BACKEND_ENV_VAR}=auto or torch to run on the CPU.")
    return "mamba_ssm"


def scan_backend_report() -> dict:
    """What is available and which scan backend would run, for `s3mamba doctor` and for logs."""
    kernel, detail = import_mamba_kernel()
    requested = os.environ.get(BACKEND_ENV_VAR, "auto")
    report: dict = {
        "env_var": BACKEND_ENV_VAR,
        "requested": requested,
        "torch_scan_available": True,
        "torch_scan_chunk_size": DEFAULT_CHUNK_SIZE,
        "cpu_inference_kernel": cpu_scan_kernel_status(),
        "mamba_ssm_importable": kernel is not None,
        "triton_importable": _triton_import_error() is None,
        ("mamba_ssm_version" if kernel is not None else "mamba_ssm_import_error"): detail,
        "cuda_available": torch.cuda.is_available(),
    }
    for device, on_cuda in (("cpu", False), ("cuda", True)):
        try:
            report[f"backend_on_{device}"] = resolve_scan_backend(None, on_cuda)
        except (RuntimeError, ValueError) as error:
            report[f"backend_on_{device}"] = f"error: {error}"
    return report


@torch.compiler.assume_constant_result
def scan_backend_in_graph(backend: Optional[str], on_cuda: bool) -> str:
    """`resolve_scan_backend` as a constant of a compiled graph: its import attempt and environment read cannot be
    traced, and the answer does not change while a process runs (the import result is cached)."""
    return resolve_scan_backend(backend, on_cuda)