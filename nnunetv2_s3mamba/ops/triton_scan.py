"""SS2D's four directional selective scans on a GPU: the Triton kernels of `triton_scan_kernels.py` as PyTorch
operators, with their tiles.

The forward and backward are PyTorch custom operators (`s3mamba::four_direction_scan_fwd`/`_bwd`, with their
output shapes and their gradient registered), so that torch.compile keeps a network around them in one graph, as
it does around mamba-ssm's operators.

Triton is imported only when this module is: `ss2d_scan` imports it only for the "triton" scan backend. On the CPU
the kernels run under Triton's interpreter (TRITON_INTERPRET=1), which is how the tests check them against the
PyTorch scan.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
from torch import Tensor

from nnunetv2_s3mamba.ops.triton_scan_kernels import four_direction_scan_backward, four_direction_scan_forward

__all__ = ["four_direction_scan", "smoke_test", "tiles_for", "TILES", "TILE_KEYS"]

N_DIRECTIONS = 4

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
    _launch(four_direction_scan_forward, grid, u.device, u, delta, B, C, A, D, delta_bias, y, checkpoints, height,
            width, length, channels, n_checkpoints, *u.stride()[:-1], *delta.stride()[:-1], *B.stride()[:-1],
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
    _launch(four_direction_scan_backward, grid, u.device, u, delta, B, C, A, D, delta_bias, checkpoints, scratch, dy,
            du, ddelta, dB, dC, dA, dD, dbias, height, width, length, channels, n_checkpoints,
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
