"""SS2D: the 2D selective scan of VMamba, as used inside the EnVSS block (without its depthwise convolution).

The image is read as four 1D sequences (row-major, column-major, and both reversed); each direction has its own
x/dt projections and SSM parameters, and all four run through ONE selective-scan call with the directions stacked
along the channel axis (4 * d_inner channels, B and C grouped per direction). Their outputs are mapped back to the
image grid and summed. Parameter names and shapes are VMamba's, so VMamba-S weights load by name.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.architectures.precision import autocast_is_bf16, overflow_safe_autocast
from nnunetv2_s3mamba.architectures.selective_scan import scan_backend_in_graph, selective_scan

__all__ = ["SS2D"]

N_DIRECTIONS = 4


class SS2D(nn.Module):
    """(B, H, W, C) -> (B, H, W, C): in_proj, SiLU, 4-direction selective scan, LayerNorm, * SiLU(z), out_proj.

    The paper's EnVSS block removes VMamba's depthwise convolution; the SiLU that followed it is kept, so the
    scan still sees a gated, non-linear input (our reading, docs/NETWORK.md).
    """

    def __init__(self, d_model: int, d_state: int = 16, ssm_ratio: float = 2.0, dt_rank: Optional[int] = None,
                 scan_backend: Optional[str] = None, dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4) -> None:
        super().__init__()
        d_inner = int(ssm_ratio * d_model)
        self.d_inner, self.d_state = d_inner, d_state
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        # Per-direction projections, stored stacked (VMamba's layout): (K, R + 2N, d_inner) and (K, d_inner, R).
        bound = d_inner ** -0.5
        self.x_proj_weight = nn.Parameter(torch.empty(N_DIRECTIONS, self.dt_rank + 2 * d_state, d_inner)
                                          .uniform_(-bound, bound))
        dt_bound = self.dt_rank ** -0.5
        self.dt_projs_weight = nn.Parameter(torch.empty(N_DIRECTIONS, d_inner, self.dt_rank)
                                            .uniform_(-dt_bound, dt_bound))
        # dt bias = inverse softplus of dt ~ logU[dt_min, dt_max]: the scan starts with step sizes in that range.
        dt = torch.exp(torch.rand(N_DIRECTIONS, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_projs_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real initialisation: A = -(1..N) for every channel; D = 1.
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32))
                                   .repeat(N_DIRECTIONS * d_inner, 1))
        self.Ds = nn.Parameter(torch.ones(N_DIRECTIONS * d_inner))
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)
        y = self.scan_four_directions(F.silu(x))
        y = self.out_norm(y) * F.silu(z)
        return self.out_proj(y)

    def scan_four_directions(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, d_inner) -> (B, H, W, d_inner): the sum of the four directional scans.

        The direction copies and the x/dt projections run in bf16 under bf16 autocast (tensor cores, half the
        memory traffic; bf16 cannot overflow) and in fp32 otherwise (under fp16 they are where Mamba networks
        overflow: the projections feed exp/softplus). The scan's recurrence is fp32 in every case.
        """
        b, h, w, d = x.shape
        length = h * w
        with overflow_safe_autocast(x.device):
            x = x.to(torch.bfloat16 if autocast_is_bf16(x.device) else torch.float32)
            if scan_backend_in_graph(self.scan_backend, x.is_cuda) == "triton":
                return self._scan_in_pixel_order(x)
            # The four sequences are written straight into one (b, K, d, L) buffer: 6 tensor-sized copies instead
            # of the 10 that permute/stack/flip/cat made (copies and casts, these among them, were 14% of a
            # training step on an H100; docs/BENCHMARKS.md).
            xs = x.new_empty(b, N_DIRECTIONS, d, length)
            xs[:, 0].view(b, d, h, w).copy_(x.permute(0, 3, 1, 2))     # rows:    l = i * W + j
            xs[:, 1].view(b, d, w, h).copy_(x.permute(0, 3, 2, 1))     # columns: l = j * H + i
            xs[:, 2:].copy_(xs[:, :2].flip(-1))                         # both reversed
            x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight.to(x.dtype))
            dts, Bs, Cs = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=2)
            dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight.to(x.dtype))
            ys = selective_scan(xs.reshape(b, N_DIRECTIONS * d, length), dts.reshape(b, N_DIRECTIONS * d, length),
                                -torch.exp(self.A_logs.float()), Bs, Cs, self.Ds.float(),
                                delta_bias=self.dt_projs_bias.float().view(-1), delta_softplus=True,
                                backend=self.scan_backend).view(b, N_DIRECTIONS, d, length)
            pairs = ys[:, :2] + ys[:, 2:].flip(-1)                      # undo the reversals: (row, col) orders
            y = pairs[:, 0].view(b, d, h, w) + pairs[:, 1].view(b, d, w, h).transpose(-1, -2)
            return y.permute(0, 2, 3, 1)

    def _scan_in_pixel_order(self, x: torch.Tensor) -> torch.Tensor:
        """`scan_four_directions` with the "triton" backend: no direction copies, the kernel reads them in place.

        The projections are per pixel, so they run once on the pixel-ordered features for all four directions
        ((b, L, 4, R + 2N), one matmul) and the kernel takes their dt/B/C slices as they are.
        """
        from nnunetv2_s3mamba.architectures.ss2d_scan_kernel import four_direction_scan  # imports triton

        b, h, w, d = x.shape
        u = x.reshape(b, h * w, d)
        weight = self.x_proj_weight.to(x.dtype)                                 # (K, R + 2N, d)
        x_dbl = (u @ weight.flatten(0, 1).t()).view(b, h * w, N_DIRECTIONS, -1)
        dts, Bs, Cs = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=3)
        dts = torch.einsum("blkr,kdr->blkd", dts, self.dt_projs_weight.to(x.dtype))
        y = four_direction_scan(u, dts, -torch.exp(self.A_logs.float()), Bs, Cs, self.Ds.float(),
                                self.dt_projs_bias.float().view(-1), h, w)
        return y.view(b, h, w, d)
