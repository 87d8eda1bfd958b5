"""SS2D: the 2D selective scan of VMamba, as used inside the EnVSS block (without its depthwise convolution).

The image is read as four 1D sequences (row-major, column-major, and both reversed), each direction with its own
x/dt projections and SSM parameters, scanned by `ops.ss2d_selective_scan` and summed back on the grid. Parameter
names and shapes are VMamba's, so VMamba-S weights load by name.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.ops import ss2d_selective_scan
from nnunetv2_s3mamba.ops.ss2d_scan import N_DIRECTIONS

__all__ = ["SS2D"]


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
        """(B, H, W, d_inner) -> (B, H, W, d_inner): the sum of the four directional scans."""
        return ss2d_selective_scan(x, self.x_proj_weight, self.dt_projs_weight, self.A_logs, self.Ds,
                                   self.dt_projs_bias, backend=self.scan_backend)
