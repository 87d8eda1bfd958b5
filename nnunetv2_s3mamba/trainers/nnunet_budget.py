"""nnU-Net's own U-Net under the comparison budget and optimiser of docs/RESULTS.md, where nnU-Net ships no trainer.

docs/RESULTS.md compares S3-Mamba with nnU-Net's U-Net under the same number of iterations. nnU-Net 2.8.1 ships
`nnUNetTrainer_5epochs`, `_10epochs`, `_20epochs`, `_50epochs` and longer, but no 15- or 30-epoch variant: 15 epochs
is the longest budget whose S3-Mamba row at nnU-Net's CVC-ClinicDB plan (320x384, batch 19) trains, predicts and
comes back within one 30-minute GPU session, 30 epochs (7,500 iterations) the longest at the paper's input size
and batch (`s3mamba paper-input`: 256x256, batch 16; half the step time, docs/TRAINING.md). These follow nnU-Net's
own variants: they change `num_epochs` and nothing else. `nnUNetTrainer_AdamW_15epochs` also takes S3-Mamba's
optimiser, so that a difference between the two models can be split into network and optimiser.
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunetv2_s3mamba.trainers.s3mamba_trainer import S3MambaTrainerBase, paper_optimizer
from nnunetv2_s3mamba.trainers.schedule import CosineLRScheduler


class _nnUNetTrainerBudget(nnUNetTrainer):
    """nnUNetTrainer trained for `epochs` x 250 iterations, like nnU-Net's `nnUNetTrainer_10epochs`."""

    epochs: int

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.epochs


class nnUNetTrainer_15epochs(_nnUNetTrainerBudget):
    """nnUNetTrainer trained for 15 epochs (3,750 iterations)."""
    epochs = 15


class nnUNetTrainer_30epochs(_nnUNetTrainerBudget):
    """nnUNetTrainer trained for 30 epochs (7,500 iterations)."""
    epochs = 30


class nnUNetTrainer_AdamW_15epochs(nnUNetTrainer_15epochs):
    """nnU-Net's U-Net trained with S3-Mamba's optimiser: the paper's AdamW and cosine schedule, same lr and decay.

    On unseen CVC-ClinicDB sequences both S3-Mamba and its ablation baseline beat the U-Net on small lesions, but
    they differ from it in network and in optimiser (nnU-Net: SGD with Nesterov momentum, lr 1e-2, poly decay).
    This row changes only the optimiser and its schedule; nnU-Net's network, loss, augmentation and fp16 AMP stay.
    """

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.initial_lr = S3MambaTrainerBase.learning_rate
        self.weight_decay = S3MambaTrainerBase.weight_decay_value

    def configure_optimizers(self) -> tuple[torch.optim.AdamW, CosineLRScheduler]:
        return paper_optimizer(self.network, self.initial_lr, self.weight_decay, self.num_epochs)


__all__ = ["nnUNetTrainer_15epochs", "nnUNetTrainer_30epochs", "nnUNetTrainer_AdamW_15epochs"]
