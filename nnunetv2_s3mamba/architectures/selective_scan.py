"""The selective scan of Mamba (S6) behind one function, with interchangeable backends.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (per channel d and state n)
    y_t = sum_n C_t[n] * h_t[n] + D * u_t

`selective_scan(...)` takes the argument layout of mamba-ssm's `selective_scan_fn` so SS2D never knows which
backend ran:

- "mamba_ssm": mamba-ssm's fused CUDA kernel. Imported lazily, because nnU-Net imports our trainers while it
  searches for trainer classes and any import error then (a missing or broken compiled extension) aborts the search.
- "torch": our own chunked scan in plain PyTorch. It is linear in the sequence length in time and memory (mamba's own
  `selective_scan_ref` has a backward that is quadratic in L) and runs anywhere, so CPU training, tests and machines
  without the extension work. For CPU inference it uses our compiled kernel where that can be built
  (`cpu_scan_kernel.py`), else a one-pass PyTorch loop.
- "triton": SS2D's four directions in one Triton kernel of ours (`ss2d_scan_kernel.py`), which SS2D calls itself
  (it needs the image layout); a single scan run through this function with that choice runs the torch backend.

The recurrence always runs in fp32 with autocast disabled: exp(delta * A) and the long recurrences overflow or lose
all precision in fp16, the main source of NaN losses reported for Mamba segmentation networks. Inputs may arrive in
bf16 (SS2D under bf16 autocast): the CUDA kernel then reads them as bf16 and converts each element to fp32 in its
registers (half the memory traffic), the torch scan converts them up front.
"""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F

from nnunetv2_s3mamba.architectures.cpu_scan_kernel import (cpu_scan_kernel_status, kernel_selective_scan,
                                                             load_cpu_scan_kernel)
from nnunetv2_s3mamba.architectures.mamba_scan_op import mamba_scan
from nnunetv2_s3mamba.architectures.precision import autocast_off

__all__ = ["selective_scan", "scan_backend_report", "resolve_scan_backend", "scan_backend_in_graph",
           "chunked_selective_scan", "inference_selective_scan", "SCAN_BACKENDS", "DEFAULT_CHUNK_SIZE"]

SCAN_BACKENDS = ("auto", "torch", "mamba_ssm", "triton")
BACKEND_ENV_VAR = "S3MAMBA_SCAN_BACKEND"
# Chosen by measurement (benchmarks/scan_cpu.py, docs/NETWORK.md): time is flat around sqrt(L) for L = 4096..7680.
DEFAULT_CHUNK_SIZE = 64
# Elements of one time block of the inference scan (2^18 floats = 1 MiB, about one core's L2 cache here): measured
# fastest among 2^16, 2^18 and 2^20 at the four stage sizes of a 320x384 tile (docs/BENCHMARKS.md, issue 6).
INFERENCE_BLOCK_ELEMENTS = 2 ** 18


@functools.lru_cache(maxsize=1)
def _import_mamba_kernel() -> tuple[Optional[Callable], str]:
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
        from nnunetv2_s3mamba.architectures.ss2d_scan_kernel import smoke_test
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
    is importable, else our Triton kernel (SS2D's four directions in one kernel, `ss2d_scan_kernel.py`) where
    Triton imports and the kernel runs on the current GPU (tried once), else the PyTorch scan; elsewhere the PyTorch
    scan. That order is measured (H200, vmamba-s training
    step at batch 26, 320x384; docs/BENCHMARKS.md): 288.5 ms with mamba-ssm, 313-356 ms with ours in Triton, 1930 ms
    with the PyTorch scan; and Triton comes with PyTorch's Linux CUDA wheels, so a user without the compiled
    extension, which PyPI ships only as source, still trains at nearly its speed. Asking for "mamba_ssm" or
    "triton" where it cannot run is an error, not a silent fallback: a user who asked for a kernel must not measure
    or train the slow path unknowingly.
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
    kernel, detail = _import_mamba_kernel()
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
    kernel, detail = _import_mamba_kernel()
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


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, delta_bias: Optional[torch.Tensor] = None,
                   delta_softplus: bool = False, backend: Optional[str] = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """Selective scan with fp32 state, layout of mamba-ssm's `selective_scan_fn`; returns y (batch, dim, L).

    u, delta: (batch, dim, L). A: (dim, N), real and negative. B, C: (batch, N, L) shared by all channels, or
    (batch, G, N, L) with the channels split into G equal consecutive groups (SS2D: one group per scan direction).
    D, delta_bias: (dim,). `backend`: "auto" | "torch" | "mamba_ssm" | "triton", None reads S3MAMBA_SCAN_BACKEND
    ("triton" is SS2D's fused four-direction kernel; a single scan called here then runs the torch backend).
    y is fp32, except where u, delta, B and C are all bf16 and the CUDA kernel runs: then the kernel computes in
    fp32 and stores y in bf16. The torch backend runs the chunked scan (`chunk_size`) where a gradient is needed.
    On the CPU without gradients (no_grad/inference_mode, or no input requires one) it runs the compiled CPU kernel
    (`cpu_scan_kernel.py`) on finite inputs, else the cheaper `inference_selective_scan` (not on a GPU: its one
    operation per step would mean thousands of kernel launches); all compute the same recurrence (tested to agree
    within float32 rounding).
    Under torch.compile the CUDA kernel runs as custom operators that the compiled graph contains
    (`mamba_scan_op.py`); the torch backend stays outside the graph, because its loops would unroll into a huge one.
    """
    _check_shapes(u, delta, A, B, C, D, delta_bias)
    A = A.float().contiguous()
    D = D.float().contiguous() if D is not None else None
    delta_bias = delta_bias.float().contiguous() if delta_bias is not None else None
    if scan_backend_in_graph(backend, u.is_cuda) != "mamba_ssm":
        return _torch_backend_scan(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)
    with autocast_off(u.device):
        io_dtype = torch.bfloat16 if all(t.dtype == torch.bfloat16 for t in (u, delta, B, C)) else torch.float32
        u, delta, B, C = (t.to(io_dtype).contiguous() for t in (u, delta, B, C))
        if torch.compiler.is_compiling():
            return mamba_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)
        kernel, _ = _import_mamba_kernel()
        return kernel(u, delta, A, B, C, D, None, delta_bias, delta_softplus)


@torch.compiler.disable
def _torch_backend_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                        D: Optional[torch.Tensor], delta_bias: Optional[torch.Tensor], delta_softplus: bool,
                        chunk_size: int) -> torch.Tensor:
    """The "torch" backend of `selective_scan` (A, D and delta_bias already fp32; all in fp32, autocast off)."""
    with autocast_off(u.device):
        u, delta, B, C = u.float(), delta.float(), B.float(), C.float()
        needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                                     for t in (u, delta, A, B, C, D, delta_bias))
        if u.device.type == "cpu" and not needs_grad:
            kernel = load_cpu_scan_kernel()
            if kernel is not None and all(bool(torch.isfinite(t).all()) for t in (u, delta, B, C)):
                return kernel_selective_scan(kernel, u, delta, A, B, C, D, delta_bias, delta_softplus)
            with _one_intra_op_thread():
                return inference_selective_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)
        if delta_bias is not None:
            delta = delta + delta_bias[:, None]
        if delta_softplus:
            delta = F.softplus(delta)
        return chunked_selective_scan(u, delta, A, B, C, D, chunk_size)


@contextlib.contextmanager
def _one_intra_op_thread() -> Iterator[None]:
    """Run the CPU inference scan on one intra-op thread, then restore the caller's setting.

    The scan is thousands of small dependent operations. Measured on the 2-core dev box while other jobs ran:
    with 2 OpenMP threads every one of them waited for the second thread to be scheduled, and a 320x384 tile took
    93-123 s instead of 2-3 s on one thread (docs/BENCHMARKS.md, issue 6).
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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

    The sequence is cut into chunks of T steps, and every loop step advances ALL chunks at once, so Python loops
    run about 2T + L/T times instead of L times (see _ChunkedScan). Nothing of size L x dim x N is kept for the
    backward pass: it recomputes the states from the chunk start states, as mamba-ssm's kernel does.
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

    # Loop index (time within the chunk) first, so each step reads one contiguous block. These permuted copies
    # are small: per-channel terms have no N axis, B and C no channel axis.
    def per_channel(t: torch.Tensor) -> torch.Tensor:  # (T, batch, groups, dim/groups, chunks, 1)
        t = t.reshape(batch, groups, dim // groups, n_chunks, chunk)
        return t.permute(4, 0, 1, 2, 3).unsqueeze(-1).contiguous()

    def per_state(t: torch.Tensor) -> torch.Tensor:  # (T, batch, groups, 1, chunks, N)
        t = t.reshape(batch, groups, n_state, n_chunks, chunk)
        return t.permute(4, 0, 1, 3, 2).unsqueeze(3).contiguous()

    A_c = A.view(groups, dim // groups, 1, n_state)
    y = _ChunkedScan.apply(per_channel(delta), per_channel(delta * u), A_c, per_state(B), per_state(C))
    y = y.permute(1, 2, 3, 4, 0).reshape(batch, dim, padded)[..., :length]  # (T, b, g, d, c) -> (b, dim, L)
    if D is not None:
        y = y + D[:, None] * u[..., :length]
    return y


class _ChunkedScan(torch.autograd.Function):
    """h_t = exp(delta_t A) h_{t-1} + (delta u)_t B_t,  y_t = C_t . h_t, in the chunk-major layout above.

    Forward: (1) run the recurrence from a zero state inside every chunk and keep each chunk's end state;
    (2) carry the true state across chunk boundaries with each chunk's total decay exp(A * sum delta);
    (3) run the recurrence again from the true start states, reading y out at every step.
    Backward: recompute the states from the saved start states, then run the adjoint recurrence
    g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1} backwards in the same chunked way and read every gradient out of
    (g_t, h_{t-1}). Every exp has a non-positive argument (delta >= 0, A < 0): nothing overflows.
    """

    @staticmethod
    def forward(ctx, delta, delta_u, A, B, C):
        # exp(delta_t A) is recomputed per step in both passes: one (T, ..., N) tensor would cost more in fresh
        # memory than the second exp costs in arithmetic (measured, docs/NETWORK.md).
        n_chunks = delta.shape[4]
        start = delta.new_zeros(torch.broadcast_shapes(delta_u.shape[1:], B.shape[1:]))  # (b, g, d, c, N)
        if n_chunks > 1:
            end = delta_u[0] * B[0]
            for t in range(1, delta.shape[0]):
                end = torch.addcmul(delta_u[t] * B[t], torch.exp(delta[t] * A), end)
            ends, chunk_decays = end.unbind(-2), torch.exp(delta.sum(0) * A).unbind(-2)
            for c in range(1, n_chunks):
                torch.addcmul(ends[c - 1], chunk_decays[c - 1], start[..., c - 1, :], out=start[..., c, :])
        y = delta.new_empty(delta.shape[:-1])
        h = start
        for t in range(delta.shape[0]):
            h = torch.addcmul(delta_u[t] * B[t], torch.exp(delta[t] * A), h)
            torch.sum(h * C[t], dim=-1, out=y[t])
        ctx.save_for_backward(delta, delta_u, A, B, C, start)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        delta, delta_u, A, B, C, start = ctx.saved_tensors
        steps, n_chunks = delta.shape[0], delta.shape[4]
        channel_axis = 2  # of a step slice (batch, groups, dim/groups, chunks, N)
        dy = dy.unsqueeze(-1)
        # States and decays of every step (transient: freed when backward returns).
        states = torch.empty((steps,) + start.shape, dtype=start.dtype, device=start.device)
        decays = torch.empty_like(states)
        d_C = torch.empty_like(C)
        h = start
        for t in range(steps):
            torch.exp(delta[t] * A, out=decays[t])
            h = torch.addcmul(delta_u[t] * B[t], decays[t], h, out=states[t])
            torch.sum(dy[t] * h, dim=channel_axis, keepdim=True, out=d_C[t])

        # Adjoint flowing into each chunk's last step from the next chunk: exp(delta_0' A) * g_0'.
        inflow = torch.zeros_like(start)
        if n_chunks > 1:
            g = None
            for t in reversed(range(steps)):
                g = C[t] * dy[t] if g is None else torch.addcmul(C[t] * dy[t], decays[t + 1], g)
            local_first = g.unbind(-2)                                    # adjoint at step 0, zero inflow
            tail_decays = torch.exp(delta[1:].sum(0) * A).unbind(-2)       # decay over steps 1..T-1 of a chunk
            first_decays = decays[0].unbind(-2)
            for c in reversed(range(n_chunks - 1)):
                first_next = torch.addcmul(local_first[c + 1], tail_decays[c + 1], inflow[..., c + 1, :])
                torch.mul(first_decays[c + 1], first_next, out=inflow[..., c, :])

        d_delta = torch.empty_like(delta)
        d_delta_u = torch.empty_like(delta_u)
        d_B = torch.empty_like(B)
        d_A = torch.zeros_like(start)
        g = inflow
        for t in reversed(range(steps)):
            g = torch.addcmul(C[t] * dy[t], decays[t + 1], g) if t < steps - 1 else g + C[t] * dy[t]
            q = g * decays[t] * (states[t - 1] if t > 0 else start)     # dL/d(delta_t A), per channel and state
            torch.sum(q * A, dim=-1, keepdim=True, out=d_delta[t])
            d_A.addcmul_(q, delta[t])
            torch.sum(g * B[t], dim=-1, keepdim=True, out=d_delta_u[t])
            torch.sum(g * delta_u[t], dim=channel_axis, keepdim=True, out=d_B[t])
        d_A = d_A.sum(dim=(0, 3)).unsqueeze(-2)                           # (b, g, d, c, N) -> (g, d, 1, N)
        return d_delta, d_delta_u, d_A, d_B, d_C


def inference_selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                             C: torch.Tensor, D: Optional[torch.Tensor] = None,
                             delta_bias: Optional[torch.Tensor] = None, delta_softplus: bool = False,
                             block_elements: int = INFERENCE_BLOCK_ELEMENTS) -> torch.Tensor:
    """The scan without autograd (fp32 inputs, `selective_scan`'s arguments): the same recurrence as
    `chunked_selective_scan`, 2-3x faster than its forward at the stage sizes of a 320x384 tile (CPU, one thread;
    docs/BENCHMARKS.md), building nothing that a backward pass would need.

    Why it is cheaper: the chunked scan exists so that training can keep only chunk start states, and it pays for
    that with two passes (every exp(delta A) computed twice). Without a backward pass one sequential pass suffices.
    Time is cut into blocks of K steps whose (K, batch, N, dim) tensors fit in a core's L2 cache. Per block, the
    bias and softplus of delta, exp(delta A) and the inputs (delta u) B are computed for all K steps at once,
    straight from strided views of the (batch, dim, L) inputs (no full-size transposed copies, which cost page
    faults and cache misses on every call); the recurrence itself is one in-place `addcmul` per step (below
    PyTorch's parallel grain, so it never waits on OpenMP threads); y is read out of the block with one batched
    matmul, C_t (1 x N) times the states (N x dim). Two state buffers alternate, so the last state of one block is
    never overwritten by the next block.
    """
    batch, dim, length = u.shape
    n_state = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    per_group = dim // groups
    steps = max(1, min(length, block_elements // (batch * dim * n_state)))

    def time_major(t: torch.Tensor) -> torch.Tensor:  # (batch, dim, L) -> view (L, batch, groups, 1, dim/groups)
        return t.view(batch, groups, per_group, length).permute(3, 0, 1, 2).unsqueeze(3)

    delta_t, u_t = time_major(delta), time_major(u)
    B_t = B.reshape(batch, groups, n_state, length).permute(3, 0, 1, 2).unsqueeze(-1)             # (L, b, g, N, 1)
    C_t = C.reshape(batch, groups, n_state, length).permute(3, 0, 1, 2).unsqueeze(3)              # (L, b, g, 1, N)
    A_t = A.view(groups, per_group, n_state).transpose(1, 2).contiguous()                         # (g, N, d/g)
    bias = delta_bias.view(groups, 1, per_group) if delta_bias is not None else None

    y = u.new_empty(batch, groups, per_group, length)
    y_block = u.new_empty((steps, batch, groups, 1, per_group))
    delta_block = torch.empty_like(y_block)
    C_block = u.new_empty((steps, batch, groups, 1, n_state))
    decays = u.new_empty((steps, batch, groups, n_state, per_group))
    state_blocks = (torch.empty_like(decays), torch.empty_like(decays))
    h = u.new_zeros((batch, groups, n_state, per_group))
    for block, start in enumerate(range(0, length, steps)):
        end = min(start + steps, length)
        size = end - start
        d = delta_block[:size]
        if bias is not None:
            torch.add(delta_t[start:end], bias, out=d)
        else:
            d.copy_(delta_t[start:end])
        if delta_softplus:
            d = F.softplus(d)
        decay = torch.mul(d, A_t, out=decays[:size]).exp_().unbind(0)
        states = torch.mul(d.mul_(u_t[start:end]), B_t[start:end], out=state_blocks[block % 2][:size])
        for step, state in enumerate(states.unbind(0)):
            h = torch.addcmul(state, decay[step], h, out=state)   # h_t = exp(delta_t A) h_{t-1} + (delta u)_t B_t
        c = C_block[:size].copy_(C_t[start:end])
        y_out = y_block[:size]
        torch.bmm(c.view(-1, 1, n_state), states.view(-1, n_state, per_group), out=y_out.view(-1, 1, per_group))
        y[..., start:end].copy_(y_out.squeeze(3).permute(1, 2, 3, 0))
    y = y.view(batch, dim, length)
    if D is not None:
        y.addcmul_(u, D[:, None])
    return y
