"""EnVSS block (paper Fig. 2c) and its EnCF block (Fig. 2d), plus the encoder/decoder stages built from them.

EnVSS = VMamba's VSS block without the depthwise convolution (inside SS2D), with two residual connections:
    y   = s1 * x + DropPath(SS2D(LN1(x)))          residual 1: block input straight past the SS2D path
    out = s2 * y + EnCF(LN2(y))                    residual 2: around the channel-attention path
s1, s2 are learnable per-channel scales (our reading of the figure, as in MambaIR's residual state-space block).
EnCF = squeeze-and-excitation with its own residual: v + v * sigmoid(FC(ReLU(FC(GAP(v))))).
With use_encf=False the block is `s1 * x + DropPath(SS2D(LN1(x)))`: the VM-UNet VSS block without DWConv (plus
the learnable scale s1, which starts at 1): the baseline of the paper's ablation (Tables 3-4). DropPath is
dynamic_network_architectures' (timm's stochastic depth), the one nnU-Net's own residual networks use.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from dynamic_network_architectures.building_blocks.regularization import DropPath
from torch import nn

from nnunetv2_s3mamba.architectures.patch_ops import PatchExpand2D, PatchMerging2D
from nnunetv2_s3mamba.architectures.ss2d import SS2D

__all__ = ["EnCFBlock", "EnVSSBlock", "EnVSSLayer", "EnVSSLayerUp"]


class EnCFBlock(nn.Module):
    """Enhanced Channel Feature block: channel re-weighting by squeeze-and-excitation, plus a residual (B,H,W,C)."""

    def __init__(self, dim: int, reduction: int = 30) -> None:
        super().__init__()
        hidden = max(4, dim // reduction)  # at least 4 units: a single ReLU unit is easily dead from the start
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(1, 2))))))
        return x + x * weights[:, None, None, :]


class EnVSSBlock(nn.Module):
    """One EnVSS block on (B, H, W, C); `ln_1`/`self_attention` keep VMamba's names for pretrained loading."""

    def __init__(self, dim: int, drop_path: float = 0.0, d_state: int = 16, ssm_ratio: float = 2.0,
                 use_encf: bool = True, encf_reduction: int = 30, scan_backend: Optional[str] = None) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = SS2D(dim, d_state=d_state, ssm_ratio=ssm_ratio, scan_backend=scan_backend)
        self.drop_path = DropPath(drop_path)
        self.skip_scale = nn.Parameter(torch.ones(dim))
        self.use_encf = use_encf
        if use_encf:
            self.ln_2 = nn.LayerNorm(dim)
            self.encf = EnCFBlock(dim, encf_reduction)
            self.skip_scale2 = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.skip_scale + self.drop_path(self.self_attention(self.ln_1(x)))
        if self.use_encf:
            x = x * self.skip_scale2 + self.encf(self.ln_2(x))
        return x


def _blocks(dim: int, drop_paths: Sequence[float], **block_kwargs) -> nn.ModuleList:
    return nn.ModuleList(EnVSSBlock(dim, drop_path=rate, **block_kwargs) for rate in drop_paths)


class EnVSSLayer(nn.Module):
    """Encoder stage ("EnVSSBlocks Down"): EnVSS blocks, then patch merging to the next stage (if any)."""

    def __init__(self, dim: int, drop_paths: Sequence[float], downsample: bool, **block_kwargs) -> None:
        super().__init__()
        self.blocks = _blocks(dim, drop_paths, **block_kwargs)
        self.downsample = PatchMerging2D(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class EnVSSLayerUp(nn.Module):
    """Decoder stage ("EnVSSBlocks Up"): patch expanding from the coarser stage (if any), then EnVSS blocks."""

    def __init__(self, dim: int, drop_paths: Sequence[float], upsample: bool, **block_kwargs) -> None:
        super().__init__()
        self.upsample = PatchExpand2D(2 * dim) if upsample else None
        self.blocks = _blocks(dim, drop_paths, **block_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        for block in self.blocks:
            x = block(x)
        return x
