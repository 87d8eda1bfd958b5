"""The selective scan of Mamba (S6) behind one function, with two interchangeable backends.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (per channel d and state n)
    y_t = sum_n C_t[n] * h_t[n] + D * u_t

`selective_scan(...)` takes the argument layout of mamba-ssm's `selective_scan_fn` so SS2D never knows which
backend ran:

- "mamba_ssm": mamba-ssm's fused CUDA kernel. Imported lazily, because nnU-Net imports our trainers while it
  searches for trainer classes and any import error then (a missing or broken compiled extension) aborts the search.
- "torch": our own chunked scan in plain PyTorch. It is linear in the sequence length in time and memory (mamba's own
  `selective_scan_ref` has a backward that is quadratic in L) and runs anywhere, so CPU training, tests and machines
  without the extension work.

The scan always runs in fp32 with autocast disabled: exp(delta * A) and the long recurrences overflow or lose all
precision in fp16, the main source of NaN losses reported for Mamba segmentation networks.
"""
from __future__ import annotations

import functools
import os
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from nnunetv2_s3mamba.architectures.precision import autocast_off

__all__ = ["selective_scan", "scan_backend_report", "resolve_scan_backend", "SCAN_BACKENDS", "DEFAULT_CHUNK_SIZE"]

SCAN_BACKENDS = ("auto", "torch", "mamba_ssm")
BACKEND_ENV_VAR = "S3MAMBA_SCAN_BACKEND"
# Chosen by measurement (benchmarks/scan_cpu.py, docs/NETWORK.md): time is flat around sqrt(L) for L = 4096..7680.
DEFAULT_CHUNK_SIZE = 64


@functools.lru_cache(maxsize=1)
def _import_mamba_kernel() -> tuple[Optional[Callable], str]:
    """Returns (selective_scan_fn or None, version or the import error). Cached: the import is tried once."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        import mamba_ssm
    except Exception as error:  # an ImportError, or an OSError/RuntimeError from a broken compiled extension
        return None, f"{type(error).__name__}: {error}"
    return selective_scan_fn, getattr(mamba_ssm, "__version__", "unknown")


def _requested_backend(backend: Optional[str]) -> str:
    requested = (backend if backend is not None else os.environ.get(BACKEND_ENV_VAR, "auto")).strip().lower()
    if requested not in SCAN_BACKENDS:
        source = "argument scan_backend" if backend is not None else f"environment variable {BACKEND_ENV_VAR}"
        raise ValueError(f"Unknown selective-scan backend {requested!r} (from the {source}); "
                         f"choose one of {', '.join(SCAN_BACKENDS)}.")
    return requested


def resolve_scan_backend(backend: Optional[str], on_cuda: bool) -> str:
    """The backend that runs for tensors on CUDA (`on_cuda`) or elsewhere: "torch" or "mamba_ssm".

    `backend` None reads S3MAMBA_SCAN_BACKEND (default "auto"). "auto" takes the CUDA kernel when it is importable
    and the tensors are on CUDA. Asking for "mamba_ssm" where it cannot run is an error, not a silent fallback:
    a user who asked for the kernel must not measure or train the slow path unknowingly.
    """
    requested = _requested_backend(backend)
    if requested == "torch":
        return "torch"
    kernel, detail = _import_mamba_kernel()
    if requested == "auto":
        return "mamba_ssm" if (kernel is not None and on_cuda) else "torch"
    if kernel is None:
        raise RuntimeError(f"Selective-scan backend 'mamba_ssm' was requested but mamba_ssm cannot be imported "
                           f"({detail}). Install it (pip install --no-build-isolation 'nnunetv2_s3mamba[cuda-kernels]') "
                           f"or set {BACKEND_ENV_VAR}=auto or torch.")
    if not on_cuda:
        raise RuntimeError("Selective-scan backend 'mamba_ssm' needs CUDA tensors; these are on the CPU. "
                           f"Set {BACKEND_ENV_VAR}=auto or torch to run on the CPU.")
    return "mamba_ssm"


def scan_backend_report() -> dict:
    """What is available and which scan backend would run, for `s3mamba doctor` and for logs."""
    kernel, detail = _import_mamba_kernel()
    requested = os.environ.get(BACKEND_ENV_VAR, "auto")
    report: dict = {
        "env_var": BACKEND_ENV_VAR,
        "requested": requested,
        "torch_scan_available": True,
        "torch_scan_chunk_size": DEFAULT_CHUNK_SIZE,
        "mamba_ssm_importable": kernel is not None,
        ("mamba_ssm_version" if kernel is not None else "mamba_ssm_import_error"): detail,
        "cuda_available": torch.cuda.is_available(),
    }
    for device, on_cuda in (("cpu", False), ("cuda", True)):
        try:
            report[f"backend_on_{device}"] = resolve_scan_backend(None, on_cuda)
        except (RuntimeError, ValueError) as error:
            report[f"backend_on_{device}"] = f"error: {error}"
    return report


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, delta_bias: Optional[torch.Tensor] = None,
                   delta_softplus: bool = False, backend: Optional[str] = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """Selective scan in fp32, layout of mamba-ssm's `selective_scan_fn`; returns y (batch, dim, L) in fp32.

    u, delta: (batch, dim, L). A: (dim, N), real and negative. B, C: (batch, N, L) shared by all channels, or
    (batch, G, N, L) with the channels split into G equal consecutive groups (SS2D: one group per scan direction).
    D, delta_bias: (dim,). `backend`: "auto" | "torch" | "mamba_ssm", None reads S3MAMBA_SCAN_BACKEND.
    `chunk_size` only affects the torch backend.
    """
    _check_shapes(u, delta, A, B, C, D, delta_bias)
    which = resolve_scan_backend(backend, u.is_cuda)
    with autocast_off(u.device):
        u, delta, A, B, C = u.float(), delta.float(), A.float(), B.float(), C.float()
        D = D.float() if D is not None else None
        delta_bias = delta_bias.float() if delta_bias is not None else None
        if which == "mamba_ssm":
            kernel, _ = _import_mamba_kernel()
            return kernel(u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(),
                          D.contiguous() if D is not None else None, None,
                          delta_bias.contiguous() if delta_bias is not None else None, delta_softplus)
        if delta_bias is not None:
            delta = delta + delta_bias[:, None]
        if delta_softplus:
            delta = F.softplus(delta)
        return chunked_selective_scan(u, delta, A, B, C, D, chunk_size)


def _check_shapes(u, delta, A, B, C, D, delta_bias) -> None:
    assert u.dim() == 3 and delta.shape == u.shape, \
        f"u and delta must both be (batch, dim, L); got u {tuple(u.shape)}, delta {tuple(delta.shape)}"
    batch, dim, length = u.shape
    assert A.dim() == 2 and A.shape[0] == dim, f"A must be (dim={dim}, N); got {tuple(A.shape)}"
    n_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        assert t.dim() in (3, 4) and t.shape[0] == batch and t.shape[-2:] == (n_state, length), \
            f"{name} must be (batch={batch}, N={n_state}, L={length}) or (batch, G, N, L); got {tuple(t.shape)}"
        assert t.dim() == 3 or dim % t.shape[1] == 0, \
            f"{name} has {t.shape[1]} groups, which do not divide the {dim} channels"
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        assert t is None or t.shape == (dim,), f"{name} must be ({dim},); got {tuple(t.shape)}"


def chunked_selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                           D: Optional[torch.Tensor], chunk_size: int) -> torch.Tensor:
    """Pure-PyTorch selective scan, linear in L (delta already biased and softplus-ed; all fp32).

    The sequence is cut into chunks of T steps and each loop step advances ALL chunks at once:
    1. run the recurrence from a zero state inside every chunk (T steps) and keep only each chunk's end state;
    2. carry the true state across chunk boundaries (L/T steps on small tensors) with each chunk's total decay
       exp(A * sum delta);
    3. run the recurrence again inside every chunk, now from its true start state, reading y out at every step.
    The Python loop thus runs about 2T + L/T times instead of L times. Nothing of size L x dim x N is ever built
    in one piece (such tensors cost more in fresh-memory page faults than in arithmetic on a CPU); autograd keeps
    two state-sized tensors per step, so memory is linear in L too. Every exp has a non-positive argument
    (delta >= 0, A < 0): nothing overflows, whatever the chunk size.
    """
    batch, dim, length = u.shape
    n_state = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    B = B.view(batch, groups, n_state, length)
    C = C.view(batch, groups, n_state, length)
    chunk = max(1, min(chunk_size, length))
    n_chunks = -(-length // chunk)
    padded = n_chunks * chunk
    if padded != length:  # zero delta and input: padded steps neither decay nor feed the state, outputs are cropped
        pad = (0, padded - length)
        u, delta, B, C = F.pad(u, pad), F.pad(delta, pad), F.pad(B, pad), F.pad(C, pad)

    # Loop index (time within the chunk) first: (T, batch, groups, dim/groups, chunks, 1) for per-channel terms,
    # (T, batch, groups, 1, chunks, N) for B and C. These permuted copies are small (no N axis, or no dim axis).
    def per_channel(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch, groups, dim // groups, n_chunks, chunk).permute(4, 0, 1, 2, 3).unsqueeze(-1)

    def per_state(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch, groups, n_state, n_chunks, chunk).permute(4, 0, 1, 3, 2).unsqueeze(3)

    delta_c = per_channel(delta).contiguous()
    A_c = A.view(groups, dim // groups, 1, n_state)
    # unbind, not indexing in the loop: the backward of one unbind is one stack, while every indexed slice would
    # allocate and zero-fill a gradient of the whole tensor.
    delta_steps = delta_c.unbind(0)
    delta_u_steps = per_channel(delta * u).unbind(0)
    B_steps, C_steps = per_state(B).unbind(0), per_state(C).unbind(0)

    def step(t: int, h: Optional[torch.Tensor]) -> torch.Tensor:
        drive = delta_u_steps[t] * B_steps[t]
        return drive if h is None else torch.addcmul(drive, torch.exp(delta_steps[t] * A_c), h)

    start = None
    if n_chunks > 1:
        end = None
        for t in range(chunk):
            end = step(t, end)                                         # (b, g, d, chunks, N), from zero starts
        ends = end.unbind(-2)
        chunk_decays = torch.exp(delta_c.sum(0) * A_c).unbind(-2)
        carried = [torch.zeros_like(ends[0])]
        for c in range(1, n_chunks):
            carried.append(torch.addcmul(ends[c - 1], chunk_decays[c - 1], carried[-1]))
        start = torch.stack(carried, dim=-2)                           # true state entering each chunk

    h, ys = start, []
    for t in range(chunk):
        h = step(t, h)
        ys.append((h * C_steps[t]).sum(-1))
    y = torch.stack(ys, dim=-1).reshape(batch, dim, padded)[..., :length]  # (b, g, d, chunks, T) -> (b, dim, L)
    if D is not None:
        y = y + D[:, None] * u[..., :length]
    return y
