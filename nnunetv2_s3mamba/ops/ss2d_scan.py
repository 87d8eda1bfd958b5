"""SS2D's selective scan over four directions: the one function SS2D calls, whichever backend runs it.

VMamba reads the image as four sequences (row-major, column-major, and both reversed); each direction has its own
x/dt projections and SSM parameters, and the four outputs, mapped back to the grid, are summed. With the "triton"
backend one kernel reads the four directions in place from the channels-last features (`triton_scan.py`); the
others write the four direction-ordered sequences, scan them with one `selective_scan` call (directions stacked
along the channels, B and C grouped per direction) and map the outputs back.
"""
from __future__ import annotations

from typing import Optional

import torch

from nnunetv2_s3mamba.ops.backends import scan_backend_in_graph
from nnunetv2_s3mamba.ops.precision import autocast_is_bf16, overflow_safe_autocast
from nnunetv2_s3mamba.ops.sequence_scan import selective_scan

__all__ = ["ss2d_selective_scan", "N_DIRECTIONS"]

N_DIRECTIONS = 4


def ss2d_selective_scan(x: torch.Tensor, x_proj_weight: torch.Tensor, dt_projs_weight: torch.Tensor,
                        A_logs: torch.Tensor, Ds: torch.Tensor, dt_projs_bias: torch.Tensor,
                        backend: Optional[str] = None) -> torch.Tensor:
    """(B, H, W, d) -> (B, H, W, d): the sum of the four directional scans, with VMamba's parameters.

    x_proj_weight: (4, R + 2N, d); dt_projs_weight: (4, d, R); A_logs: (4 d, N) with A = -exp(A_logs); Ds and
    dt_projs_bias: (4 d,) and (4, d). `backend` as `resolve_scan_backend` (None: S3MAMBA_SCAN_BACKEND or auto).
    The direction copies and the x/dt projections run in bf16 under bf16 autocast (tensor cores, half the memory
    traffic; bf16 cannot overflow) and in fp32 otherwise (under fp16 they are where Mamba networks overflow: the
    projections feed exp/softplus). The recurrence is fp32 on every backend.
    """
    d_state = A_logs.shape[-1]
    dt_rank = dt_projs_weight.shape[-1]
    with overflow_safe_autocast(x.device):
        x = x.to(torch.bfloat16 if autocast_is_bf16(x.device) else torch.float32)
        A = -torch.exp(A_logs.float())
        x_proj_weight, dt_projs_weight = x_proj_weight.to(x.dtype), dt_projs_weight.to(x.dtype)
        if scan_backend_in_graph(backend, x.is_cuda) == "triton":
            return _scan_in_pixel_order(x, x_proj_weight, dt_projs_weight, A, Ds.float(),
                                        dt_projs_bias.float().view(-1), dt_rank, d_state)
        return _scan_direction_copies(x, x_proj_weight, dt_projs_weight, A, Ds.float(),
                                      dt_projs_bias.float().view(-1), dt_rank, d_state, backend)


def _scan_in_pixel_order(x, x_proj_weight, dt_projs_weight, A, D, delta_bias, dt_rank: int, d_state: int):
    """No direction copies: the projections are per pixel, so they run once on the pixel-ordered features for all
    four directions ((b, L, 4, R + 2N), one matmul) and the kernel takes their dt/B/C slices as they are."""
    from nnunetv2_s3mamba.ops.triton_scan import four_direction_scan  # imports triton

    b, h, w, d = x.shape
    u = x.reshape(b, h * w, d)
    x_dbl = (u @ x_proj_weight.flatten(0, 1).t()).view(b, h * w, N_DIRECTIONS, -1)
    dts, Bs, Cs = torch.split(x_dbl, [dt_rank, d_state, d_state], dim=3)
    dts = torch.einsum("blkr,kdr->blkd", dts, dt_projs_weight)
    return four_direction_scan(u, dts, A, Bs, Cs, D, delta_bias, h, w).view(b, h, w, d)


def _scan_direction_copies(x, x_proj_weight, dt_projs_weight, A, D, delta_bias, dt_rank: int, d_state: int,
                           backend: Optional[str]):
    """The four sequences written straight into one (b, K, d, L) buffer (6 tensor-sized copies instead of the 10
    that permute/stack/flip/cat make), one `selective_scan`, and the outputs mapped back and summed."""
    b, h, w, d = x.shape
    length = h * w
    xs = x.new_empty(b, N_DIRECTIONS, d, length)
    xs[:, 0].view(b, d, h, w).copy_(x.permute(0, 3, 1, 2))     # rows:    l = i * W + j
    xs[:, 1].view(b, d, w, h).copy_(x.permute(0, 3, 2, 1))     # columns: l = j * H + i
    xs[:, 2:].copy_(xs[:, :2].flip(-1))                         # both reversed
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [dt_rank, d_state, d_state], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, dt_projs_weight)
    ys = selective_scan(xs.reshape(b, N_DIRECTIONS * d, length), dts.reshape(b, N_DIRECTIONS * d, length), A, Bs, Cs,
                        D, delta_bias=delta_bias, delta_softplus=True, backend=backend).view(b, N_DIRECTIONS, d, length)
    pairs = ys[:, :2] + ys[:, 2:].flip(-1)                      # undo the reversals: (row, col) orders
    y = pairs[:, 0].view(b, d, h, w) + pairs[:, 1].view(b, d, w, h).transpose(-1, -2)
    return y.permute(0, 2, 3, 1)
