"""Per-GPU batch norm under DDP instead of nnU-Net's SyncBatchNorm.

nnU-Net converts every batch norm to `torch.nn.SyncBatchNorm` when it trains with `-num_gpus N`. Its own U-Net has
none (instance norm), but S3-Mamba's TCMA has the paper's batch norms (image/edge embeddings and eq. 3's MLPs). A
SyncBatchNorm forward all-gathers the statistics and then blocks the CPU until the GPU has caught up (PyTorch
masks empty ranks with a data-dependent shape), once per layer and step: the queue of kernels the CPU had launched
ahead drains, and the GPU then waits for every launch that follows. Syncing buys nothing statistically here:
each of these layers normalises over every pixel of its level in the rank's whole batch (per 320x384 patch, 480
samples per channel at the coarsest, 1/16 level, up to 123k for the full-resolution embeddings), so per-GPU
statistics are as good as global ones. DDP still broadcasts rank 0's running statistics to
the other ranks at every forward (its default `broadcast_buffers`), so every rank and the checkpoint carry the
same running statistics. The parameters and buffers are kept as they are (the same tensors), so DDP's gradient
hooks, the optimizer and the state-dict keys are untouched; prediction builds the network with its original
batch norms.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["PerRankBatchNorm", "unsync_batch_norms"]


class PerRankBatchNorm(_BatchNorm):
    """Batch norm over inputs of any rank >= 2 (N, C, ...): what a SyncBatchNorm computes on one GPU alone."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of at least 2 dimensions (N, C, ...), got {input.dim()}")


def unsync_batch_norms(module: nn.Module) -> int:
    """Replace every SyncBatchNorm below `module` (in place) by a PerRankBatchNorm over the same parameters and
    buffers; returns how many were replaced."""
    replaced = 0
    for name, child in module.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            local = PerRankBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                     child.track_running_stats)
            for key, parameter in child.named_parameters(recurse=False):
                setattr(local, key, parameter)
            for key, buffer in child.named_buffers(recurse=False):
                setattr(local, key, buffer)
            local.train(child.training)
            setattr(module, name, local)
            replaced += 1
        else:
            replaced += unsync_batch_norms(child)
    return replaced
