"""nnU-Net's own U-Net under a comparison budget for which nnU-Net ships no trainer.

docs/RESULTS.md compares S3-Mamba with nnU-Net's U-Net under the same number of iterations. nnU-Net 2.8.1 ships
`nnUNetTrainer_5epochs`, `_10epochs`, `_20epochs` and longer, but no 15-epoch variant, and 15 epochs is the
longest budget whose S3-Mamba row (about 70 s an epoch on an H100) trains, predicts and comes back within one
30-minute GPU session. The class follows nnU-Net's own variants: it changes `num_epochs` and nothing else.
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_15epochs(nnUNetTrainer):
    """nnUNetTrainer trained for 15 epochs (3,750 iterations), like nnU-Net's `nnUNetTrainer_10epochs`."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 15


__all__ = ["nnUNetTrainer_15epochs"]
