"""SS2D's four directional selective scans as one Triton kernel that reads the directions in place.

With mamba-ssm, SS2D writes the image four times into direction-ordered sequences, scans them, and flips and
transposes the four outputs back before summing them: copies that were 44 ms of a 326 ms training step on an H100
(docs/BENCHMARKS.md). And mamba-ssm's backward, 4x its forward there, adds every channel's share of dB and dC to
its direction's shared B/C gradient with one atomic add per channel, state and position.

Here every tensor stays in pixel order, channels last, as the network holds it: a program scanning direction k
maps sequence position t to its pixel (`_pixel_of`), so the direction copies and the merge's flips disappear, and
the backward sums dB/dC over a block of channels in registers before one atomic add per block. Within a chunk of
CHUNK positions the recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t runs as a parallel associative
scan; chunks follow one another, carrying the state. The forward keeps each chunk's initial state for the
backward, which recomputes the chunk's states and runs the adjoint recurrence as a reverse scan. All arithmetic is
fp32, whatever the input dtype. The four directions add their outputs (and their gradients of the shared input)
into one fp32 buffer with atomic adds, so no per-direction copy of either is kept; like mamba-ssm's dB, such sums
are not bit-reproducible between runs.

The forward and backward are PyTorch custom operators (`s3mamba::four_direction_scan_fwd`/`_bwd`, with their
output shapes and their gradient registered), so that torch.compile keeps a network around them in one graph, as
it does around mamba-ssm's operators. Measured on an H200 (docs/BENCHMARKS.md, eighth and ninth runs): compiled,
the network step was 14% shorter than eager from an autograd Function (269.6 ms) and 16% as custom operators
(265.2 ms): the kernels themselves, not graph breaks, are what compilation cannot shorten.

Triton is imported only when this module is: SS2D imports it only for the "triton" scan backend. On the CPU the
kernels run under Triton's interpreter (TRITON_INTERPRET=1), which is how the tests check them against the
PyTorch scan.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["four_direction_scan", "smoke_test", "TILES"]

N_DIRECTIONS = 4

# Channels per program, positions per chunk, warps per program: each (channels, N, chunk) fp32 tile lives in
# registers. Chosen from 26 tiles that `benchmarks/ss2d_scan_gpu.py` timed at the four vmamba-s stage sizes on an
# H200 (docs/BENCHMARKS.md): small chunks and one warp were fastest. Chunks of 4 were 2% faster still, but the
# forward saves one state per chunk for the backward, and at chunks of 4 those states took 7.4 GiB more of a
# training step's memory than at 8.
TILES = {"block_d": 4, "chunk": 8, "num_warps": 1}


@triton.jit
def _pixel_of(t, k, H, W, L):
    """Pixel (row-major index) at position t of direction k: 0 rows, 1 columns, 2 and 3 the same reversed."""
    s = tl.where(k >= 2, L - 1 - t, t)
    return tl.where(k % 2 == 1, (s % H) * W + s // H, s)


@triton.jit
def _linear_recurrence(a1, b1, a2, b2):
    """Composition of x -> a1 x + b1 followed by x -> a2 x + b2: the associative step of h_t = a_t h_{t-1} + b_t."""
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _softplus(x):
    """softplus with mamba-ssm's threshold: linear above 20, where exp would only add rounding (or overflow)."""
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _load_delta(dt_ptr, bias, batch, k, t, d, dmask, H, W, L, s_dt_b, s_dt_l, s_dt_k):
    """(pixels, mask, delta + bias, softplus(delta + bias)) for positions t of direction k, (BLOCK_D, CHUNK)."""
    p = _pixel_of(t, k, H, W, L)
    m2 = dmask[:, None] & (t < L)[None, :]
    raw = tl.load(dt_ptr + batch * s_dt_b + p[None, :] * s_dt_l + k * s_dt_k + d[:, None], mask=m2,
                  other=0.0).to(tl.float32) + bias[:, None]
    return p, m2, raw, tl.where(m2, _softplus(raw), 0.0)  # delta 0 past the end: the state passes unchanged


@triton.jit
def _load_chunk(u_ptr, dt_ptr, b_ptr, c_ptr, bias, batch, k, t, d, n, dmask, H, W, L, s_u_b, s_u_l, s_dt_b, s_dt_l,
                s_dt_k, s_b_b, s_b_l, s_b_k, s_c_b, s_c_l, s_c_k):
    """u, softplus(delta + bias) as (BLOCK_D, CHUNK) and B, C as (N, CHUNK) for positions t of direction k."""
    tmask = t < L
    p, m2, raw, delta = _load_delta(dt_ptr, bias, batch, k, t, d, dmask, H, W, L, s_dt_b, s_dt_l, s_dt_k)
    u = tl.load(u_ptr + batch * s_u_b + p[None, :] * s_u_l + d[:, None], mask=m2, other=0.0).to(tl.float32)
    bt = tl.load(b_ptr + batch * s_b_b + p[None, :] * s_b_l + k * s_b_k + n[:, None], mask=tmask[None, :],
                 other=0.0).to(tl.float32)
    ct = tl.load(c_ptr + batch * s_c_b + p[None, :] * s_c_l + k * s_c_k + n[:, None], mask=tmask[None, :],
                 other=0.0).to(tl.float32)
    return p, m2, u, raw, delta, bt, ct


@triton.jit
def _forward_kernel(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, y_ptr, state_ptr,
                    H, W, L, D, n_chunks, s_u_b, s_u_l, s_dt_b, s_dt_l, s_dt_k, s_b_b, s_b_l, s_b_k,
                    s_c_b, s_c_l, s_c_k, DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    batch = tl.program_id(0) // 4
    k = tl.program_id(0) % 4
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < D
    n = tl.arange(0, DSTATE)
    last = (tl.arange(0, CHUNK) == CHUNK - 1)[None, None, :]
    A = tl.load(a_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], mask=dmask[:, None], other=0.0)
    skip = tl.load(dskip_ptr + k * D + d, mask=dmask, other=0.0)
    bias = tl.load(bias_ptr + k * D + d, mask=dmask, other=0.0)
    state_base = state_ptr + ((batch * 4 + k) * n_chunks * D + d[:, None]) * DSTATE + n[None, :]
    h = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    for chunk in range(n_chunks):
        t = chunk * CHUNK + tl.arange(0, CHUNK)
        p, m2, u, raw, delta, bt, ct = _load_chunk(u_ptr, dt_ptr, b_ptr, c_ptr, bias, batch, k, t, d, n, dmask,
                                                   H, W, L, s_u_b, s_u_l, s_dt_b, s_dt_l, s_dt_k, s_b_b, s_b_l,
                                                   s_b_k, s_c_b, s_c_l, s_c_k)
        tl.store(state_base + chunk * D * DSTATE, h, mask=dmask[:, None])
        decay = tl.exp(delta[:, None, :] * A[:, :, None])
        drive = (delta * u)[:, None, :] * bt[None, :, :]
        a_scan, b_scan = tl.associative_scan((decay, drive), 2, _linear_recurrence)
        states = b_scan + a_scan * h[:, :, None]
        y = tl.sum(states * ct[None, :, :], 1) + skip[:, None] * u
        tl.atomic_add(y_ptr + (batch * L + p[None, :]) * D + d[:, None], y, mask=m2)  # the four directions' sum
        h = tl.sum(tl.where(last, states, 0.0), 2)


@triton.jit
def _backward_kernel(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, state_ptr, dy_ptr,
                     du_ptr, ddt_ptr, db_ptr, dc_ptr, da_ptr, dskip_grad_ptr, dbias_ptr,
                     H, W, L, D, n_chunks, s_u_b, s_u_l, s_dt_b, s_dt_l, s_dt_k, s_b_b, s_b_l, s_b_k,
                     s_c_b, s_c_l, s_c_k, s_dy_b, s_dy_l,
                     DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    batch = tl.program_id(0) // 4
    k = tl.program_id(0) % 4
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < D
    n = tl.arange(0, DSTATE)
    first = (tl.arange(0, CHUNK) == 0)[None, None, :]
    A = tl.load(a_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], mask=dmask[:, None], other=0.0)
    skip = tl.load(dskip_ptr + k * D + d, mask=dmask, other=0.0)
    bias = tl.load(bias_ptr + k * D + d, mask=dmask, other=0.0)
    state_base = state_ptr + ((batch * 4 + k) * n_chunks * D + d[:, None]) * DSTATE + n[None, :]
    dh_next = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)  # gradient of the first state of the next chunk
    da_acc = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    dskip_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for reverse_chunk in range(n_chunks):
        chunk = n_chunks - 1 - reverse_chunk
        t = chunk * CHUNK + tl.arange(0, CHUNK)
        p, m2, u, raw, delta, bt, ct = _load_chunk(u_ptr, dt_ptr, b_ptr, c_ptr, bias, batch, k, t, d, n, dmask,
                                                   H, W, L, s_u_b, s_u_l, s_dt_b, s_dt_l, s_dt_k, s_b_b, s_b_l,
                                                   s_b_k, s_c_b, s_c_l, s_c_k)
        # The decay one step later: dh_t = g_t + exp(delta_{t+1} A) dh_{t+1} (the last one reaches the next chunk).
        _, _, _, delta_next = _load_delta(dt_ptr, bias, batch, k, t + 1, d, dmask, H, W, L, s_dt_b, s_dt_l, s_dt_k)
        h0 = tl.load(state_base + chunk * D * DSTATE, mask=dmask[:, None], other=0.0)
        decay = tl.exp(delta[:, None, :] * A[:, :, None])
        drive = (delta * u)[:, None, :] * bt[None, :, :]
        a_scan, b_scan = tl.associative_scan((decay, drive), 2, _linear_recurrence)
        states = b_scan + a_scan * h0[:, :, None]
        dy = tl.load(dy_ptr + batch * s_dy_b + p[None, :] * s_dy_l + d[:, None], mask=m2, other=0.0).to(tl.float32)
        g = dy[:, None, :] * ct[None, :, :]
        decay_next = tl.exp(delta_next[:, None, :] * A[:, :, None])
        ra, rb = tl.associative_scan((decay_next, g), 2, _linear_recurrence, reverse=True)
        dh = rb + ra * dh_next[:, :, None]
        dh_next = tl.sum(tl.where(first, dh, 0.0), 2)
        # dB, dC: summed over this block's channels here, then one atomic add per block, state and position.
        bc_offset = ((batch * L + p[None, :]) * 4 + k) * DSTATE + n[:, None]
        tmask = (t < L)[None, :]
        tl.atomic_add(db_ptr + bc_offset, tl.sum(dh * (delta * u)[:, None, :], 0), mask=tmask)
        tl.atomic_add(dc_ptr + bc_offset, tl.sum(states * dy[:, None, :], 0), mask=tmask)
        dh_b = tl.sum(dh * bt[None, :, :], 1)
        # d(loss)/d(decay_t) * decay_t = dh_t * (h_t - drive_t), with decay_t = exp(delta_t A).
        z = dh * (states - drive)
        ddelta = u * dh_b + tl.sum(z * A[:, :, None], 1)
        draw = tl.where(m2, ddelta * tl.sigmoid(raw), 0.0)  # softplus' = sigmoid
        da_acc += tl.sum(z * delta[:, None, :], 2)
        dskip_acc += tl.sum(dy * u, 1)
        dbias_acc += tl.sum(draw, 1)
        tl.atomic_add(du_ptr + (batch * L + p[None, :]) * D + d[:, None], delta * dh_b + skip[:, None] * dy, mask=m2)
        tl.store(ddt_ptr + ((batch * L + p[None, :]) * 4 + k) * D + d[:, None], draw, mask=m2)
    tl.atomic_add(da_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], da_acc, mask=dmask[:, None])
    tl.atomic_add(dskip_grad_ptr + k * D + d, dskip_acc, mask=dmask)
    tl.atomic_add(dbias_ptr + k * D + d, dbias_acc, mask=dmask)


def _launch(kernel, grid: tuple[int, int], device: torch.device, *args, **kwargs) -> None:
    """Run a kernel; a failure other than running out of memory becomes an error that says how to get around it.

    `auto` picks this kernel on any CUDA GPU without mamba-ssm, including GPUs it was never run on: where Triton
    cannot compile or run it, the user needs the switch to the PyTorch scan, not Triton's traceback alone.
    """
    try:
        kernel[grid](*args, **kwargs)
    except torch.OutOfMemoryError:
        raise
    except Exception as error:
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
        raise RuntimeError(
            f"The Triton selective scan failed on {where} ({type(error).__name__}: {str(error)[:500]}). "
            "Set S3MAMBA_SCAN_BACKEND=torch to train and predict with the PyTorch scan instead, or install mamba-ssm "
            "(its CUDA kernel is preferred where it imports); please report the GPU and this message.") from error


def _unit_last_stride(t: torch.Tensor) -> torch.Tensor:
    """`t`, copied only where its last dimension is not contiguous: the kernels index channels and states by 1."""
    return t if t.stride(-1) == 1 else t.contiguous()


@torch.library.custom_op("s3mamba::four_direction_scan_fwd", mutates_args=())
def _scan_forward(u: Tensor, delta: Tensor, B: Tensor, C: Tensor, A: Tensor, D: Tensor, delta_bias: Tensor,
                  height: int, width: int, block_d: int, chunk: int, num_warps: int) -> tuple[Tensor, Tensor]:
    """y in u's dtype, and each chunk's initial state (fp32) for the backward; u, delta, B, C with unit last stride."""
    batch, length, channels = u.shape
    n_chunks = triton.cdiv(length, chunk)
    y = u.new_zeros(batch, length, channels, dtype=torch.float32)
    states = u.new_empty(batch, N_DIRECTIONS, n_chunks, channels, A.shape[-1], dtype=torch.float32)
    grid = (batch * N_DIRECTIONS, triton.cdiv(channels, block_d))
    _launch(_forward_kernel, grid, u.device, u, delta, B, C, A, D, delta_bias, y, states, height, width, length,
            channels, n_chunks, *u.stride()[:-1], *delta.stride()[:-1], *B.stride()[:-1], *C.stride()[:-1],
            DSTATE=A.shape[-1], BLOCK_D=block_d, CHUNK=chunk, num_warps=num_warps)
    return y.to(u.dtype), states


@_scan_forward.register_fake
def _(u, delta, B, C, A, D, delta_bias, height, width, block_d, chunk, num_warps):
    batch, length, channels = u.shape
    n_chunks = triton.cdiv(length, chunk)
    return (u.new_empty(batch, length, channels),
            u.new_empty(batch, N_DIRECTIONS, n_chunks, channels, A.shape[-1], dtype=torch.float32))


@torch.library.custom_op("s3mamba::four_direction_scan_bwd", mutates_args=())
def _scan_backward(u: Tensor, delta: Tensor, B: Tensor, C: Tensor, A: Tensor, D: Tensor, delta_bias: Tensor,
                   states: Tensor, dy: Tensor, height: int, width: int, block_d: int, chunk: int, num_warps: int
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of u, delta, B, C (in their dtypes; delta's contiguous), A, D and delta_bias (fp32)."""
    dy = _unit_last_stride(dy)
    batch, length, channels = u.shape
    du = u.new_zeros(batch, length, channels, dtype=torch.float32)
    ddelta = delta.new_empty(delta.shape)  # contiguous (batch, L, 4, d)
    dB = torch.zeros(B.shape, device=B.device, dtype=torch.float32)
    dC = torch.zeros(C.shape, device=C.device, dtype=torch.float32)
    dA, dD, dbias = torch.zeros_like(A), torch.zeros_like(D), torch.zeros_like(delta_bias)
    grid = (batch * N_DIRECTIONS, triton.cdiv(channels, block_d))
    _launch(_backward_kernel, grid, u.device, u, delta, B, C, A, D, delta_bias, states, dy, du, ddelta, dB, dC,
            dA, dD, dbias, height, width, length, channels, states.shape[2], *u.stride()[:-1], *delta.stride()[:-1],
            *B.stride()[:-1], *C.stride()[:-1], *dy.stride()[:-1],
            DSTATE=A.shape[-1], BLOCK_D=block_d, CHUNK=chunk, num_warps=num_warps)
    return du.to(u.dtype), ddelta, dB.to(B.dtype), dC.to(C.dtype), dA, dD, dbias


@_scan_backward.register_fake
def _(u, delta, B, C, A, D, delta_bias, states, dy, height, width, block_d, chunk, num_warps):
    return tuple(t.new_empty(t.shape) for t in (u, delta, B, C, A, D, delta_bias))


def _setup_context(ctx, inputs, output) -> None:
    u, delta, B, C, A, D, delta_bias, *launch = inputs
    ctx.save_for_backward(u, delta, B, C, A, D, delta_bias, output[1])
    ctx.launch = launch


def _backward(ctx, dy: Tensor, _d_states: Tensor):
    grads = _scan_backward(*ctx.saved_tensors, dy, *ctx.launch)
    return (*grads, None, None, None, None, None)


_scan_forward.register_autograd(_backward, setup_context=_setup_context)


@torch.inference_mode(False)
@torch.enable_grad()
def smoke_test(device: torch.device) -> None:
    """Forward and backward of a tiny four-direction scan on `device`, in bf16 as training runs it: compiles both
    kernels there, so a GPU or Triton installation that cannot run them fails here, at once. Gradients are switched
    on whatever the caller's context: the first scan of `nnUNetv2_predict` runs under inference mode."""
    generator = torch.Generator().manual_seed(0)
    height, width, channels, d_state = 3, 5, 6, 16

    def random(*shape: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device=device, dtype=dtype).requires_grad_()

    u = random(1, height * width, channels)
    delta, B, C = (random(1, height * width, N_DIRECTIONS, n) for n in (channels, d_state, d_state))
    A = -torch.rand(N_DIRECTIONS * channels, d_state, generator=generator).to(device) - 0.5
    D, bias = (random(N_DIRECTIONS * channels, dtype=torch.float32) for _ in range(2))
    y = four_direction_scan(u, delta, A, B, C, D, bias, height, width)
    torch.autograd.grad(y.float().sum(), [u, delta, B, C, D, bias])
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def four_direction_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                        D: torch.Tensor, delta_bias: torch.Tensor, height: int, width: int,
                        block_d: Optional[int] = None, chunk: Optional[int] = None) -> torch.Tensor:
    """The sum over SS2D's four directions of the selective scan with softplus(delta + delta_bias), in pixel order.

    u: (batch, L, d) with L = height * width in row-major pixel order, shared by the four directions. delta:
    (batch, L, 4, d) and B, C: (batch, L, 4, N), each direction's values at each pixel (any strides, e.g. slices
    of one projection output; copied only where the last one is not 1). A: (4 * d, N), D and delta_bias:
    (4 * d,), direction-major, fp32.
    Returns (batch, L, d) in u's dtype; the same as scanning the four direction-ordered sequences and summing their
    outputs back on the grid (`ss2d.SS2D`), within float32 rounding. `block_d`, `chunk`: tile sizes (powers of 2),
    None takes `TILES`'.
    """
    if A.shape != (N_DIRECTIONS * u.shape[-1], A.shape[-1]) or D.shape != (A.shape[0],) or \
            delta_bias.shape != (A.shape[0],) or u.shape[1] != height * width or \
            delta.shape != (*u.shape[:2], N_DIRECTIONS, u.shape[-1]) or B.shape != C.shape or \
            B.shape != (*u.shape[:2], N_DIRECTIONS, A.shape[-1]):
        raise ValueError(f"four_direction_scan: inconsistent shapes u {tuple(u.shape)}, delta {tuple(delta.shape)}, "
                         f"A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}, D {tuple(D.shape)}, "
                         f"delta_bias {tuple(delta_bias.shape)} for a {height}x{width} image")
    A, D, delta_bias = (t.float().contiguous() for t in (A, D, delta_bias))
    u, delta, B, C = (_unit_last_stride(t) for t in (u, delta, B, C))
    return _scan_forward(u, delta, B, C, A, D, delta_bias, height, width, block_d or TILES["block_d"],
                         chunk or TILES["chunk"], TILES["num_warps"])[0]
