"""TCMA: Tensor-based Cross-feature Multi-scale Attention (paper eqs. 1-5, Fig. 2b).

For each decoder level i with per-category predictions R_i = conv1x1(F_i) (B, h, w, Nc):
  - image features O: 7x7 conv + 3x3 conv on the input; edge features E: fixed Sobel filters + 3x3 conv.
    Both are computed once at full resolution and average-pooled to the level's size (the paper's "fixed-size
    average pooling").
  - eq. 1: O, R_i, E are cut into non-overlapping d x d patches, for three patch sizes d.
  - eq. 2: per patch, A_B[b,p,k,c,e] = mean_j O[b,p,j,c] * R[b,p,j,k] * E[b,p,j,e]   (the paper sums; we average
    over the d^2 pixels so that the three scales have the same magnitude).
  - eq. 3: per pixel, W_D = sigmoid(Linear(ReLU(BN(Linear(concat(O, R, E))))))  with C_O * C_E outputs.
  - eq. 4: A[b,p,j,k] = mean_(c,e) A_B[b,p,k,c,e] * W_D[b,p,j,(c,e)], then the mean over the three scales.
  - eq. 5: the level's predicted mask is modulated per pixel and category: R_i * (1 + tanh(A)).
The gate 1 + tanh(A) lies in (0, 2): it can only re-weight a prediction, never flip its sign, and equals 1 where
the attention is neutral. TCMA runs in fp32 under fp16 autocast (its triple products overflow fp16) and stays in
bf16 under bf16 autocast (same range as fp32).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.ops.precision import overflow_safe_autocast

__all__ = ["TCMA", "SobelEdges"]


class SobelEdges(nn.Module):
    """Fixed (not learned) horizontal and vertical Sobel responses of every input channel: C_in -> 2*C_in."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        kernel = torch.stack([gx, gx.t()])[:, None].repeat(in_channels, 1, 1, 1)  # (2*C_in, 1, 3, 3)
        self.register_buffer("kernel", kernel, persistent=False)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=self.in_channels)


def _dynamic_weight_mlp(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """Eq. 3's F_MLP: linear, batch norm, ReLU, linear, sigmoid."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_features), nn.Sigmoid())


def _to_patches(x: torch.Tensor, d: int) -> torch.Tensor:
    """Eq. 1, F_pi: (B, h, w, C) with h, w multiples of d -> (B, P, d*d, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // d, d, w // d, d, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // d) * (w // d), d * d, c)


def _from_patches(x: torch.Tensor, h: int, w: int, d: int) -> torch.Tensor:
    """Inverse of _to_patches: (B, P, d*d, C) -> (B, h, w, C)."""
    b, _, _, c = x.shape
    x = x.view(b, h // d, w // d, d, d, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


class TCMA(nn.Module):
    """Modulates each decoder level's predictions with the tensor-based attention of eqs. 1-5.

    forward(image (B, C_in, H, W), predictions: list of (B, h_i, w_i, Nc) channels-last, H a multiple of each h_i)
    -> list of modulated predictions, same shapes. One dynamic-weight MLP per (level, patch size).
    """

    def __init__(self, in_channels: int, num_classes: int, num_levels: int, patch_sizes: Sequence[int] = (2, 4, 8),
                 feature_channels: int = 8, mlp_hidden: int = 32) -> None:
        super().__init__()
        assert len(patch_sizes) >= 1 and all(int(d) >= 1 for d in patch_sizes), \
            f"tcma_patch_sizes must be positive integers, got {patch_sizes}"
        self.patch_sizes = tuple(int(d) for d in patch_sizes)
        self.feature_channels = feature_channels
        c = feature_channels
        self.image_embed = nn.Sequential(nn.Conv2d(in_channels, c, 7, padding=3), nn.BatchNorm2d(c),
                                         nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
        self.sobel = SobelEdges(in_channels)
        self.edge_embed = nn.Sequential(nn.Conv2d(2 * in_channels, c, 3, padding=1), nn.BatchNorm2d(c))
        self.weight_mlps = nn.ModuleList(
            nn.ModuleList(_dynamic_weight_mlp(2 * c + num_classes, mlp_hidden, c * c) for _ in self.patch_sizes)
            for _ in range(num_levels))

    def forward(self, image: torch.Tensor, predictions: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        assert len(predictions) == len(self.weight_mlps), \
            f"TCMA was built for {len(self.weight_mlps)} levels, got {len(predictions)} predictions"
        with overflow_safe_autocast(image.device):
            # Channels-last at full resolution: batch norm's NCHW kernels run one thread block per channel, so with
            # 8 channels over a whole batch of full-size images a few blocks do all the work; its channels-last
            # kernels spread over pixels too. Same computation.
            image = image.float().contiguous(memory_format=torch.channels_last)
            image_features = self.image_embed(image)
            edge_features = self.edge_embed(self.sobel(image))
            modulated = []
            for prediction, mlps in zip(predictions, self.weight_mlps):
                prediction = prediction.float()
                h, w = prediction.shape[1:3]
                pooled = [(f if f.shape[-2:] == (h, w) else F.adaptive_avg_pool2d(f, (h, w))).permute(0, 2, 3, 1)
                          for f in (image_features, edge_features)]
                attention = torch.stack([self._attention(pooled[0], prediction, pooled[1], d, mlp)
                                         for d, mlp in zip(self.patch_sizes, mlps)]).mean(0)
                modulated.append(prediction * (1.0 + torch.tanh(attention)))       # eq. 5
            return modulated

    def _attention(self, image_f: torch.Tensor, prediction: torch.Tensor, edge_f: torch.Tensor, d: int,
                   mlp: nn.Module) -> torch.Tensor:
        """Eqs. 1-4 at one patch size: (B, h, w, C_O), (B, h, w, Nc), (B, h, w, C_E) -> attention (B, h, w, Nc).

        Sides that are not multiples of d are zero-padded (zeros add nothing to the patch sums) and cropped back.
        """
        b, h, w, num_classes = prediction.shape
        pad_h, pad_w = (-h) % d, (-w) % d
        features = torch.cat([image_f, prediction, edge_f], dim=-1)
        if pad_h or pad_w:
            features = F.pad(features, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        patches = _to_patches(features, d)                                  # (B, P, d*d, C_O + Nc + C_E)
        c = self.feature_channels
        p_o, p_i, p_e = torch.split(patches, [c, num_classes, c], dim=-1)
        base = torch.einsum("bpjc,bpjk,bpje->bpkce", p_o, p_i, p_e) / (d * d)                 # eq. 2
        weights = mlp(patches.reshape(-1, patches.shape[-1])).view(b, patches.shape[1], d * d, c, c)  # eq. 3
        attention = torch.einsum("bpkce,bpjce->bpjk", base, weights) / (c * c)              # eq. 4
        return _from_patches(attention, hp, wp, d)[:, :h, :w]
