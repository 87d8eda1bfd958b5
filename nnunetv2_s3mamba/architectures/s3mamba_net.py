"""S3MambaNet: the U-shaped VMamba network of S3-Mamba (paper Fig. 2a) in the shape nnU-Net expects.

Patch embedding -> 4 encoder stages of EnVSS blocks with patch merging -> 4 decoder stages with patch expanding
and additive skips (VM-UNet's wiring) -> 4x expand and a 1x1 head giving logits (no sigmoid/softmax: nnU-Net's loss
and predictor apply them).

Deep supervision and TCMA: the decoder stages at 1/16, 1/8 and 1/4 of the input each predict per-category logits
(R_i = conv1x1(F_i)). TCMA modulates them (eq. 5); the modulated level predictions are the deep-supervision outputs,
and their TCMA refinement (modulated - unmodulated), upsampled, is added to the full-resolution logits, so TCMA
shapes the inference output too. With `tcma_full_resolution`, the head's full-resolution logits are a fourth TCMA
level: TCMA modulates them pixel by pixel with the image and edge features at their own resolution (otherwise
those features reach the output only average-pooled to 1/4 and coarser). Without TCMA, the level predictions are
plain deep-supervision heads and the full-resolution logits come from the head alone. All heads exist whatever
`deep_supervision` says, so the state_dict is the same in both modes.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.architectures.envss import EnVSSLayer, EnVSSLayerUp
from nnunetv2_s3mamba.architectures.patch_ops import PatchEmbed2D, PatchExpand2D
from nnunetv2_s3mamba.ops import SCAN_BACKENDS
from nnunetv2_s3mamba.architectures.tcma import TCMA

__all__ = ["S3MambaNet", "S3MAMBA_PRESETS", "build_s3mamba"]

N_STAGES = 4

# Width presets (timm style). "vmamba-s": VMamba-S widths, keys compatible with its ImageNet checkpoint.
# "small": d = 36, the multiple of 4 closest to the 4.64M parameters the paper prints (4.45M; docs/NETWORK.md).
# "vmamba-s-fast": a deviation from the paper for users who want speed first: VMamba v2's SSM choice (one state per
# channel, ssm_ratio 1), which makes the scan nearly free; EnCF, TCMA, depths and widths are the paper's.
S3MAMBA_PRESETS: dict[str, dict] = {
    "vmamba-s": dict(dims=(96, 192, 384, 768), depths=(2, 2, 2, 2), decoder_depths=(2, 2, 2, 1), d_state=16,
                     ssm_ratio=2.0, drop_path_rate=0.2),
    "vmamba-s-fast": dict(dims=(96, 192, 384, 768), depths=(2, 2, 2, 2), decoder_depths=(2, 2, 2, 1), d_state=1,
                          ssm_ratio=1.0, drop_path_rate=0.2),
    "small": dict(dims=(36, 72, 144, 288), depths=(2, 2, 2, 2), decoder_depths=(2, 2, 2, 1), d_state=16,
                  ssm_ratio=2.0, drop_path_rate=0.2),
}


class S3MambaNet(nn.Module):
    """S3-Mamba for nnU-Net: forward((B, C_in, H, W)) -> logits (B, num_classes, H, W), or with deep supervision a
    list [full resolution, 1/4, 1/8, 1/16] (see `deep_supervision_scales`).

    Inputs whose sides are not multiples of `required_divisor` are zero-padded at the bottom/right inside and the
    outputs cropped back (an output at scale s keeps ceil(side * s) pixels).
    """

    required_divisor = 32

    def __init__(self, input_channels: int, num_classes: int, dims: Sequence[int] = (96, 192, 384, 768),
                 depths: Sequence[int] = (2, 2, 2, 2), decoder_depths: Sequence[int] = (2, 2, 2, 1),
                 d_state: int = 16, ssm_ratio: float = 2.0, drop_path_rate: float = 0.2, use_encf: bool = True,
                 use_tcma: bool = True, tcma_patch_sizes: Sequence[int] = (2, 4, 8), deep_supervision: bool = False,
                 scan_backend: Optional[str] = None, encf_reduction: int = 30, tcma_channels: int = 8,
                 tcma_mlp_hidden: int = 32, tcma_full_resolution: bool = False) -> None:
        super().__init__()
        assert input_channels >= 1 and num_classes >= 1, \
            f"need at least one input channel and one class, got input_channels={input_channels}, " \
            f"num_classes={num_classes}"
        for name, value in (("dims", dims), ("depths", depths), ("decoder_depths", decoder_depths)):
            assert len(value) == N_STAGES, f"{name} must have {N_STAGES} entries (one per stage), got {tuple(value)}"
        assert all(dims[i + 1] == 2 * dims[i] for i in range(N_STAGES - 1)) and dims[0] % 4 == 0, \
            f"dims must double per stage (patch merging maps C -> 2C) and dims[0] must be a multiple of 4, " \
            f"got {tuple(dims)}"
        assert scan_backend is None or scan_backend in SCAN_BACKENDS, \
            f"scan_backend must be None (read S3MAMBA_SCAN_BACKEND) or one of {SCAN_BACKENDS}, got {scan_backend!r}"
        self.input_channels, self.num_classes = input_channels, num_classes
        self.deep_supervision = deep_supervision
        self.use_encf, self.use_tcma = use_encf, use_tcma
        self.tcma_full_resolution = use_tcma and tcma_full_resolution
        block_kwargs = dict(d_state=d_state, ssm_ratio=ssm_ratio, use_encf=use_encf, encf_reduction=encf_reduction,
                            scan_backend=scan_backend)

        self.patch_embed = PatchEmbed2D(input_channels, dims[0])
        # Stochastic depth as in VM-UNet: 0 -> rate over the encoder blocks, rate -> 0 over the decoder blocks.
        enc_rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        dec_rates = torch.linspace(0, drop_path_rate, sum(decoder_depths)).tolist()[::-1]
        self.layers = nn.ModuleList(
            EnVSSLayer(dims[i], enc_rates[sum(depths[:i]):sum(depths[:i + 1])], downsample=i < N_STAGES - 1,
                       **block_kwargs) for i in range(N_STAGES))
        self.layers_up = nn.ModuleList(
            EnVSSLayerUp(dims[N_STAGES - 1 - i], dec_rates[sum(decoder_depths[:i]):sum(decoder_depths[:i + 1])],
                         upsample=i > 0, **block_kwargs) for i in range(N_STAGES))
        self.final_up = PatchExpand2D(dims[0], factor=4)
        self.final_conv = nn.Conv2d(dims[0] // 4, num_classes, kernel_size=1)
        # R_i = conv1x1(F_i) of the decoder stages at 1/16, 1/8, 1/4 (coarse to fine, the decoder's order).
        self.level_heads = nn.ModuleList(nn.Linear(dims[N_STAGES - 1 - i], num_classes) for i in range(1, N_STAGES))
        self.tcma = TCMA(input_channels, num_classes, num_levels=N_STAGES - 1 + self.tcma_full_resolution,
                         patch_sizes=tcma_patch_sizes, feature_channels=tcma_channels,
                         mlp_hidden=tcma_mlp_hidden) if use_tcma else None
        self.apply(_init_weights)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """torch's loader, with a message that says what a mismatch usually means in nnU-Net.

        nnU-Net builds the network from the trainer name stored in the checkpoint and loads strictly; a mismatch
        means the weights come from another S3-Mamba variant (EnCF/TCMA switch, preset) or another trainer.
        """
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as error:
            raise RuntimeError(
                f"These weights do not fit this S3-Mamba network (use_encf={self.use_encf}, "
                f"use_tcma={self.use_tcma}, dims[0]={self.patch_embed.proj.out_channels}, "
                f"{self.num_classes} classes). They were saved by a different trainer variant or dataset: predict "
                "with the trainer name (-tr) and plans (-p) the model was trained with, and do not copy checkpoints "
                f"between result folders. Details from PyTorch: {error}") from error

    @property
    def deep_supervision_scales(self) -> list[float]:
        """Scale of each deep-supervision output relative to the input, highest first: [1, 1/4, 1/8, 1/16]."""
        return [1.0] + [1.0 / (4 * 2 ** i) for i in range(N_STAGES - 1)]

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, list[torch.Tensor]]:
        assert x.dim() == 4 and x.shape[1] == self.input_channels, \
            f"expected input (B, {self.input_channels}, H, W), got {tuple(x.shape)}"
        height, width = x.shape[-2:]
        divisor = self.required_divisor
        image = F.pad(x, (0, (-width) % divisor, 0, (-height) % divisor))

        features = self.patch_embed(image)
        skips = []
        for layer in self.layers:
            skips.append(features)          # skip = the stage's input (VM-UNet wiring)
            features = layer(features)
        level_features = []
        for i, layer_up in enumerate(self.layers_up):
            features = layer_up(features if i == 0 else features + skips[-i])
            level_features.append(features)
        # final_conv (VM-UNet's 1x1 convolution, kept as a Conv2d for its weight names and shapes) applied as the
        # linear map it is, on the channels-last features: no layout change of the full-resolution features, and a
        # weight gradient laid out like the weight (a convolution on the permuted view returns a channels-last
        # gradient, which DDP must copy into its buckets and warns about).
        logits = F.linear(self.final_up(features), self.final_conv.weight.flatten(1), self.final_conv.bias)

        if self.tcma is None and not self.deep_supervision:
            return logits.permute(0, 3, 1, 2)[..., :height, :width]   # the level predictions would reach no output
        predictions = [head(f) for head, f in zip(self.level_heads, level_features[1:])]
        if self.tcma is not None:
            logits, predictions = self._modulate(image, logits, predictions)
        logits = logits.permute(0, 3, 1, 2)[..., :height, :width]
        if not self.deep_supervision:
            return logits
        outputs = [logits]
        for scale, prediction in zip(self.deep_supervision_scales[1:], predictions[::-1]):
            outputs.append(prediction.permute(0, 3, 1, 2)[..., :math.ceil(height * scale), :math.ceil(width * scale)])
        return outputs

    def _modulate(self, image: torch.Tensor, logits: torch.Tensor,
                  predictions: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """TCMA on the level predictions (and on the full-resolution logits with `tcma_full_resolution`), all
        channels-last; returns the logits with every level's refinement added, and the modulated level predictions.
        """
        modulated = self.tcma(image, predictions + [logits] if self.tcma_full_resolution else predictions)
        if self.tcma_full_resolution:
            logits = modulated.pop().to(logits.dtype)
        for before, after in zip(predictions, modulated):
            refinement = F.interpolate((after - before).permute(0, 3, 1, 2), size=logits.shape[1:3], mode="bilinear",
                                       align_corners=False)
            logits = logits + refinement.permute(0, 2, 3, 1).to(logits.dtype)
        return logits, modulated


def _init_weights(module: nn.Module) -> None:
    """VM-UNet's initialisation: linear layers trunc-normal(0.02) with zero bias, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_s3mamba(preset: str, input_channels: int, num_classes: int, deep_supervision: bool,
                  use_encf: bool = True, use_tcma: bool = True, **overrides) -> S3MambaNet:
    """S3MambaNet from a named width preset; `overrides` replace any constructor argument of the preset."""
    if preset not in S3MAMBA_PRESETS:
        raise ValueError(f"Unknown S3-Mamba preset {preset!r}; available: {', '.join(sorted(S3MAMBA_PRESETS))}.")
    kwargs = {**S3MAMBA_PRESETS[preset], **overrides}
    return S3MambaNet(input_channels=input_channels, num_classes=num_classes, deep_supervision=deep_supervision,
                      use_encf=use_encf, use_tcma=use_tcma, **kwargs)
