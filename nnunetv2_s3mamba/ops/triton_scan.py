"""SS2D's four directional selective scans as one Triton kernel that reads the directions in place.

With mamba-ssm, SS2D writes the image four times into direction-ordered sequences, scans them, and flips and
transposes the four outputs back before summing them. mamba-ssm runs one thread block per (batch, channel) that
splits the positions over its threads and, for each of the N states, runs a block-wide parallel scan with its
synchronisations; B and C are read again for every channel, and its backward adds every channel's share of dB and
dC with one atomic add per channel, state and position.

Here every tensor stays in pixel order, channels last, as the network holds it: a program scanning direction k
maps sequence position t to its pixel (`_pixel_of`), so there are no direction copies. A program owns one batch
element, one direction and a block of BLOCK_D channels, and holds their (BLOCK_D, N) fp32 state in registers. It
walks the positions one by one: h = exp(delta A) h + delta B u is one exp and two multiply-adds per state, with no
parallel-scan overhead and no synchronisation, and each B/C load serves BLOCK_D channels. The inputs of the next
position are loaded while the current one is computed, so their latency overlaps the arithmetic. There are as many
programs as (batch, direction, channel block), enough to fill a GPU at nnU-Net's batch sizes.

The forward keeps the state every CHECKPOINT positions. The backward walks the segments between checkpoints last
to first: it replays a segment forward once from its checkpoint, writing each position's state to a per-program
scratch (small enough to stay in cache), then walks it backwards with the adjoint recurrence
dh_t = C_t dy_t + exp(delta_{t+1} A) dh_{t+1}. Because exp(delta_t A) h_{t-1} = h_t - delta_t B_t u_t, the
gradients of delta and A need only h_t, one scratch read per position. dB and dC are summed over the program's
channels in registers, one store per program, state and position. dt's bias and softplus are applied as delta is
loaded. All arithmetic is fp32, whatever the input dtype.

Nothing is added with atomics: every output element and partial sum has one program that stores it (each
direction's y and u-gradient, each channel block's dB/dC, each batch element's dA/dD/dbias), and PyTorch sums
them, so training is reproducible run to run.

The forward and backward are PyTorch custom operators (`s3mamba::four_direction_scan_fwd`/`_bwd`, with their
output shapes and their gradient registered), so that torch.compile keeps a network around them in one graph, as
it does around mamba-ssm's operators.

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

__all__ = ["four_direction_scan", "smoke_test", "tiles_for", "TILES", "TILE_KEYS"]

N_DIRECTIONS = 4
LOG2E = tl.constexpr(1.4426950408889634)  # exp(x) = exp2(x * log2(e)): one special-function instruction

# Per state size N: channels per program, positions per saved state, warps per program. A program's (block_d, N)
# state is block_d * N / (32 * num_warps) registers per thread; fewer channels per program mean more programs to
# hide the latency of each position's loads. Memory: a saved state every `checkpoint` positions (4 * N bytes per
# channel and direction each) and a backward scratch of `checkpoint` states per program.
TILE_KEYS = ("block_d", "checkpoint", "num_warps")
TILES = {16: {"block_d": 16, "checkpoint": 32, "num_warps": 1},
         1: {"block_d": 64, "checkpoint": 64, "num_warps": 1}}


def tiles_for(d_state: int) -> dict:
    """The tiles of the nearest tabulated state size at or above `d_state`; above the largest, that one's with
    block_d scaled down so that block_d * N stays the same."""
    for size in sorted(TILES):
        if size >= d_state:
            return dict(TILES[size])
    largest = max(TILES)
    tiles = dict(TILES[largest])
    tiles["block_d"] = max(1, tiles["block_d"] * largest // d_state)
    return tiles


@triton.jit
def _pixel_of(t, k, H, W, L):
    """Pixel (row-major index) at position t of direction k: 0 rows, 1 columns, 2 and 3 the same reversed."""
    s = tl.where(k >= 2, L - 1 - t, t)
    return tl.where(k % 2 == 1, (s % H) * W + s // H, s)


@triton.jit
def _softplus(x):
    """softplus with mamba-ssm's threshold: linear above 20, where exp would only add rounding (or overflow)."""
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _load_position(u_row, dt_row, b_row, c_row, p, s_u_l, s_dt_l, s_b_l, s_c_l, dmask):
    """u and delta + bias's raw value (BLOCK_D,), B and C (N,) at pixel p, in fp32. Rows are pointer tensors to the
    program's channels (or states) at pixel 0 of its batch element and direction."""
    u = tl.load(u_row + p * s_u_l, mask=dmask, other=0.0).to(tl.float32)
    raw = tl.load(dt_row + p * s_dt_l, mask=dmask, other=0.0).to(tl.float32)
    bt = tl.load(b_row + p * s_b_l).to(tl.float32)
    ct = tl.load(c_row + p * s_c_l).to(tl.float32)
    return u, raw, bt, ct


@triton.jit
def _forward_kernel(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, y_ptr, checkpoint_ptr,
                    H, W, L, D, n_checkpoints, s_u_b, s_u_l, s_u_k, s_dt_b, s_dt_l, s_dt_k,
                    s_b_b, s_b_l, s_b_k, s_c_b, s_c_l, s_c_k, DSTATE: tl.constexpr, BLOCK_D: tl.constexpr,
                    CHECKPOINT: tl.constexpr):
    batch = tl.program_id(0) // 4
    k = tl.program_id(0) % 4
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < D
    n = tl.arange(0, DSTATE)
    A2 = tl.load(a_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], mask=dmask[:, None], other=0.0) * LOG2E
    skip = tl.load(dskip_ptr + k * D + d, mask=dmask, other=0.0)
    bias = tl.load(bias_ptr + k * D + d, mask=dmask, other=0.0)
    u_row = u_ptr + batch * s_u_b + k * s_u_k + d
    dt_row = dt_ptr + batch * s_dt_b + k * s_dt_k + d
    b_row = b_ptr + batch * s_b_b + k * s_b_k + n
    c_row = c_ptr + batch * s_c_b + k * s_c_k + n
    y_row = y_ptr + (batch * L * 4 + k) * D + d
    checkpoint_base = checkpoint_ptr + ((batch * 4 + k) * n_checkpoints * D + d[:, None]) * DSTATE + n[None, :]
    h = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    p_next = _pixel_of(0, k, H, W, L)
    u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l, s_b_l,
                                                      s_c_l, dmask)
    for t in range(L):
        if t % CHECKPOINT == 0:
            tl.store(checkpoint_base + (t // CHECKPOINT) * D * DSTATE, h, mask=dmask[:, None])
        p, u, raw, bt, ct = p_next, u_next, raw_next, b_next, c_next
        p_next = _pixel_of(tl.minimum(t + 1, L - 1), k, H, W, L)
        u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                          s_b_l, s_c_l, dmask)
        delta = _softplus(raw + bias)
        h = tl.exp2(delta[:, None] * A2) * h + (delta * u)[:, None] * bt[None, :]
        y = tl.sum(h * ct[None, :], 1) + skip * u
        tl.store(y_row + p * 4 * D, y.to(y_ptr.dtype.element_ty), mask=dmask)


@triton.jit
def _backward_kernel(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, checkpoint_ptr, scratch_ptr, dy_ptr,
                     du_ptr, ddt_ptr, db_ptr, dc_ptr, da_ptr, dskip_grad_ptr, dbias_ptr,
                     H, W, L, D, n_checkpoints, s_u_b, s_u_l, s_u_k, s_dt_b, s_dt_l, s_dt_k,
                     s_b_b, s_b_l, s_b_k, s_c_b, s_c_l, s_c_k, s_dy_b, s_dy_l, s_dy_k,
                     DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, CHECKPOINT: tl.constexpr):
    batch = tl.program_id(0) // 4
    k = tl.program_id(0) % 4
    d_block = tl.program_id(1)
    d_local = tl.arange(0, BLOCK_D)
    d = d_block * BLOCK_D + d_local
    dmask = d < D
    n = tl.arange(0, DSTATE)
    A = tl.load(a_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], mask=dmask[:, None], other=0.0)
    A2 = A * LOG2E
    skip = tl.load(dskip_ptr + k * D + d, mask=dmask, other=0.0)
    bias = tl.load(bias_ptr + k * D + d, mask=dmask, other=0.0)
    u_row = u_ptr + batch * s_u_b + k * s_u_k + d
    dt_row = dt_ptr + batch * s_dt_b + k * s_dt_k + d
    b_row = b_ptr + batch * s_b_b + k * s_b_k + n
    c_row = c_ptr + batch * s_c_b + k * s_c_k + n
    dy_row = dy_ptr + batch * s_dy_b + k * s_dy_k + d
    grid_row = (batch * L * 4 + k) * D + d                  # du and ddt: (batch, L, 4, D), contiguous
    # This program's dB/dC partial sums: (channel block, batch, L, 4, N), summed over the blocks by PyTorch.
    bc_row = ((d_block * (tl.num_programs(0) // 4) + batch) * L * 4 + k) * DSTATE + n
    checkpoint_base = checkpoint_ptr + ((batch * 4 + k) * n_checkpoints * D + d[:, None]) * DSTATE + n[None, :]
    scratch_base = scratch_ptr + ((tl.program_id(0) * tl.num_programs(1) + d_block) * CHECKPOINT * BLOCK_D
                                  + d_local[:, None]) * DSTATE + n[None, :]
    carry = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)   # exp(delta_{t+1} A) dh_{t+1}
    da_acc = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    dskip_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for reverse_segment in range(n_checkpoints):
        first = (n_checkpoints - 1 - reverse_segment) * CHECKPOINT
        count = tl.minimum(L - first, CHECKPOINT)
        # Replay the segment from its checkpoint, keeping every state in this program's scratch rows.
        h = tl.load(checkpoint_base + (first // CHECKPOINT) * D * DSTATE, mask=dmask[:, None], other=0.0)
        p_next = _pixel_of(first, k, H, W, L)
        u_next, raw_next, b_next, _ = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l, s_b_l,
                                                     s_c_l, dmask)
        tl.debug_barrier()   # the previous segment's reads of the scratch rows are done
        for j in range(count):
            u, raw, bt = u_next, raw_next, b_next
            p_next = _pixel_of(first + tl.minimum(j + 1, count - 1), k, H, W, L)
            u_next, raw_next, b_next, _ = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                         s_b_l, s_c_l, dmask)
            delta = _softplus(raw + bias)
            h = tl.exp2(delta[:, None] * A2) * h + (delta * u)[:, None] * bt[None, :]
            tl.store(scratch_base + j * BLOCK_D * DSTATE, h)
        tl.debug_barrier()   # the scratch rows are written before any thread reads them
        # Walk the segment backwards.
        p_next = _pixel_of(first + count - 1, k, H, W, L)
        u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                          s_b_l, s_c_l, dmask)
        dy_next = tl.load(dy_row + p_next * s_dy_l, mask=dmask, other=0.0).to(tl.float32)
        for reverse_j in range(count):
            j = count - 1 - reverse_j
            p, u, raw, bt, ct, dy = p_next, u_next, raw_next, b_next, c_next, dy_next
            p_next = _pixel_of(first + tl.maximum(j - 1, 0), k, H, W, L)
            u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                              s_b_l, s_c_l, dmask)
            dy_next = tl.load(dy_row + p_next * s_dy_l, mask=dmask, other=0.0).to(tl.float32)
            h = tl.load(scratch_base + j * BLOCK_D * DSTATE)
            x = raw + bias
            delta = _softplus(x)
            delta_u = delta * u
            dh = dy[:, None] * ct[None, :] + carry
            tl.store(db_ptr + bc_row + p * 4 * DSTATE, tl.sum(dh * delta_u[:, None], 0))
            tl.store(dc_ptr + bc_row + p * 4 * DSTATE, tl.sum(h * dy[:, None], 0))
            dh_b = tl.sum(dh * bt[None, :], 1)
            # d(loss)/d(decay_t) * decay_t = dh_t * (h_t - drive_t), with decay_t = exp(delta_t A).
            z = dh * (h - delta_u[:, None] * bt[None, :])
            draw = (u * dh_b + tl.sum(z * A, 1)) * tl.sigmoid(x)   # softplus' = sigmoid
            da_acc += z * delta[:, None]
            dskip_acc += dy * u
            dbias_acc += draw
            tl.store(du_ptr + grid_row + p * 4 * D, (delta * dh_b + skip * dy).to(du_ptr.dtype.element_ty),
                     mask=dmask)
            tl.store(ddt_ptr + grid_row + p * 4 * D, draw.to(ddt_ptr.dtype.element_ty), mask=dmask)
            carry = tl.exp2(delta[:, None] * A2) * dh
    parameter_offset = batch * 4 * D + k * D + d
    tl.store(da_ptr + parameter_offset[:, None] * DSTATE + n[None, :], da_acc, mask=dmask[:, None])
    tl.store(dskip_grad_ptr + parameter_offset, dskip_acc, mask=dmask)
    tl.store(dbias_ptr + parameter_offset, dbias_acc, mask=dmask)


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
                  height: int, width: int, block_d: int, checkpoint: int, num_warps: int
                  ) -> tuple[Tensor, Tensor]:
    """Each direction's output (batch, L, 4, d) in u's dtype, and the state (fp32) at every checkpoint."""
    batch, length, _, channels = u.shape
    n_checkpoints = triton.cdiv(length, checkpoint)
    y = u.new_empty(batch, length, N_DIRECTIONS, channels)
    checkpoints = u.new_empty(batch, N_DIRECTIONS, n_checkpoints, channels, A.shape[-1], dtype=torch.float32)
    grid = (batch * N_DIRECTIONS, triton.cdiv(channels, block_d))
    _launch(_forward_kernel, grid, u.device, u, delta, B, C, A, D, delta_bias, y, checkpoints, height, width,
            length, channels, n_checkpoints, *u.stride()[:-1], *delta.stride()[:-1], *B.stride()[:-1],
            *C.stride()[:-1], DSTATE=A.shape[-1], BLOCK_D=block_d, CHECKPOINT=checkpoint, num_warps=num_warps)
    return y, checkpoints


@_scan_forward.register_fake
def _(u, delta, B, C, A, D, delta_bias, height, width, block_d, checkpoint, num_warps):
    batch, length, _, channels = u.shape
    n_checkpoints = triton.cdiv(length, checkpoint)
    return (u.new_empty(batch, length, N_DIRECTIONS, channels),
            u.new_empty(batch, N_DIRECTIONS, n_checkpoints, channels, A.shape[-1], dtype=torch.float32))


@torch.library.custom_op("s3mamba::four_direction_scan_bwd", mutates_args=())
def _scan_backward(u: Tensor, delta: Tensor, B: Tensor, C: Tensor, A: Tensor, D: Tensor, delta_bias: Tensor,
                   checkpoints: Tensor, dy: Tensor, height: int, width: int, block_d: int, checkpoint: int,
                   num_warps: int
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of u (per direction, (batch, L, 4, d)), delta, B, C (in their dtypes, contiguous), A, D and
    delta_bias (fp32). Every partial sum is stored by the one program that owns it and summed here: no atomics, so
    the gradients are the same in every run."""
    dy = _unit_last_stride(dy)
    batch, length, _, channels = u.shape
    d_state = A.shape[-1]
    n_checkpoints = triton.cdiv(length, checkpoint)
    n_blocks = triton.cdiv(channels, block_d)
    du = u.new_empty(batch, length, N_DIRECTIONS, channels)
    ddelta = delta.new_empty(delta.shape)
    dB = B.new_empty(n_blocks, *B.shape, dtype=torch.float32)
    dC = C.new_empty(n_blocks, *C.shape, dtype=torch.float32)
    dA = A.new_empty(batch, *A.shape)
    dD, dbias = D.new_empty(batch, *D.shape), delta_bias.new_empty(batch, *delta_bias.shape)
    scratch = A.new_empty(batch * N_DIRECTIONS * n_blocks * checkpoint * block_d * d_state)
    grid = (batch * N_DIRECTIONS, n_blocks)
    _launch(_backward_kernel, grid, u.device, u, delta, B, C, A, D, delta_bias, checkpoints, scratch, dy, du,
            ddelta, dB, dC, dA, dD, dbias, height, width, length, channels, n_checkpoints,
            *u.stride()[:-1], *delta.stride()[:-1], *B.stride()[:-1], *C.stride()[:-1], *dy.stride()[:-1],
            DSTATE=d_state, BLOCK_D=block_d, CHECKPOINT=checkpoint, num_warps=num_warps)
    return (du, ddelta, dB.sum(0).to(B.dtype), dC.sum(0).to(C.dtype), dA.sum(0), dD.sum(0), dbias.sum(0))


@_scan_backward.register_fake
def _(u, delta, B, C, A, D, delta_bias, checkpoints, dy, height, width, block_d, checkpoint, num_warps):
    return tuple(t.new_empty(t.shape) for t in (u, delta, B, C, A, D, delta_bias))


def _setup_context(ctx, inputs, output) -> None:
    u, delta, B, C, A, D, delta_bias, *launch = inputs
    ctx.save_for_backward(u, delta, B, C, A, D, delta_bias, output[1])
    ctx.launch = launch


def _backward(ctx, dy: Tensor, _d_checkpoints: Tensor):
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
                        tiles: Optional[dict] = None) -> torch.Tensor:
    """The sum over SS2D's four directions of the selective scan with softplus(delta + delta_bias), in pixel order.

    u: (batch, L, d) with L = height * width in row-major pixel order, shared by the four directions. delta:
    (batch, L, 4, d) and B, C: (batch, L, 4, N), each direction's values at each pixel (any strides, e.g. slices
    of one projection output; copied only where the last one is not 1). A: (4 * d, N), D and delta_bias:
    (4 * d,), direction-major, fp32.
    Returns (batch, L, d) in u's dtype; the same as scanning the four direction-ordered sequences and summing their
    outputs back on the grid (`ss2d.SS2D`), within float32 rounding. `tiles` overrides entries of `tiles_for(N)`.

    The operators see u as (batch, L, 4, d) with a zero stride over the directions and return each direction's
    output: the sums over the directions (of y here, of u's gradient in autograd's backward of `expand`) are
    PyTorch operations that torch.compile fuses into their neighbours (SS2D's LayerNorm, the SiLU's backward).
    """
    if A.shape != (N_DIRECTIONS * u.shape[-1], A.shape[-1]) or D.shape != (A.shape[0],) or \
            delta_bias.shape != (A.shape[0],) or u.shape[1] != height * width or \
            delta.shape != (*u.shape[:2], N_DIRECTIONS, u.shape[-1]) or B.shape != C.shape or \
            B.shape != (*u.shape[:2], N_DIRECTIONS, A.shape[-1]):
        raise ValueError(f"four_direction_scan: inconsistent shapes u {tuple(u.shape)}, delta {tuple(delta.shape)}, "
                         f"A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}, D {tuple(D.shape)}, "
                         f"delta_bias {tuple(delta_bias.shape)} for a {height}x{width} image")
    chosen = {**tiles_for(A.shape[-1]), **(tiles or {})}
    A, D, delta_bias = (t.float().contiguous() for t in (A, D, delta_bias))
    u, delta, B, C = (_unit_last_stride(t) for t in (u, delta, B, C))
    u4 = u.unsqueeze(2).expand(-1, -1, N_DIRECTIONS, -1)
    y = _scan_forward(u4, delta, B, C, A, D, delta_bias, height, width, chosen["block_d"], chosen["checkpoint"],
                      chosen["num_warps"])[0]
    return y.sum(dim=2, dtype=torch.float32).to(u.dtype)
