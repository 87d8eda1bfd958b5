"""Resolution changes of the U-shaped VMamba network (VM-UNet layout), all on channels-last (B, H, W, C) tensors.

Module and parameter names follow VMamba/VM-UNet (`proj`, `norm`, `reduction`, `expand`) so that VMamba-S ImageNet
weights map onto them by name (see pretrained.py).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchEmbed2D", "PatchMerging2D", "PatchExpand2D"]


class PatchEmbed2D(nn.Module):
    """4x4 stride-4 convolution from the image channels, then LayerNorm: (B, C_in, H, W) -> (B, H/4, W/4, dim)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging2D(nn.Module):
    """Halve the resolution, double the width: 2x2 neighbours concatenated (4C), LayerNorm, linear 4C -> 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Neighbour order (even,even), (odd,even), (even,odd), (odd,odd) as in VMamba: pretrained weights expect it.
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


def _depth_to_space(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, H, W, f*f*C) -> (B, H*f, W*f, C), channel order (f_row, f_col, C)."""
    b, h, w, c = x.shape
    c_out = c // (factor * factor)
    x = x.view(b, h, w, factor, factor, c_out).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c_out)


class PatchExpand2D(nn.Module):
    """Raise the resolution by `factor`: linear in_dim -> factor*in_dim, factor x factor depth-to-space,
    LayerNorm(in_dim/factor). factor 2 between decoder stages; factor 4 back to the input resolution (VM-UNet's
    final expand)."""

    def __init__(self, in_dim: int, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.expand = nn.Linear(in_dim, factor * in_dim, bias=False)
        self.norm = nn.LayerNorm(in_dim // factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(_depth_to_space(self.expand(x), self.factor))
