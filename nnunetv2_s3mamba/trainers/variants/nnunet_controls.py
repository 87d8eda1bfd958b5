"""nnU-Net's own U-Net with one of our changes: the curriculum, a budget nnU-Net ships no trainer for, or S3-Mamba's
optimiser, so that a difference between S3-Mamba and the U-Net can be split into its causes (docs/RESULTS.md).

nnU-Net 2.8.1 ships `nnUNetTrainer_5epochs`, `_10epochs`, `_20epochs`, `_50epochs` and longer, but no 15- or
30-epoch variant: 15 epochs is the longest budget whose S3-Mamba row at nnU-Net's CVC-ClinicDB plan trains,
predicts and comes back within one 30-minute GPU session, 30 epochs the longest at the paper's input size and batch
(`s3mamba paper-input`, docs/TRAINING.md). The rows are in `trainers/registry.py`; the two hook classes here carry
the code they need.
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunetv2_s3mamba.curriculum.trainer_mixin import CurriculumMixin  # noqa: F401 (a base of nnUNetTrainer_CL)
from nnunetv2_s3mamba.trainers.ddp_batch import DDPEvenBatchMixin  # noqa: F401 (a base of nnUNetTrainer_CL)
from nnunetv2_s3mamba.trainers.define import define_group_trainers
from nnunetv2_s3mamba.trainers.s3mamba_trainer import S3MambaTrainerBase, paper_optimizer
from nnunetv2_s3mamba.trainers.schedule import CosineLRScheduler, apply_class_schedule


class ScheduledUNetTrainer(nnUNetTrainer):
    """nnU-Net's trainer with nnU-Net's schedule as class attributes, so that a row changes it in one line (like
    nnU-Net's `nnUNetTrainer_10epochs`, without the `__init__` copied per epoch count)."""

    epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        apply_class_schedule(self)


class PaperOptimizerMixin:
    """S3-Mamba's optimiser on an nnU-Net trainer: the paper's AdamW and cosine schedule, S3-Mamba's lr and decay.

    Only the optimiser and its schedule change; nnU-Net's network, loss, augmentation and fp16 AMP stay. The
    explicit signature matters: nnU-Net records `__init__`'s parameter names for its checkpoints.
    """

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.initial_lr = S3MambaTrainerBase.learning_rate
        self.weight_decay = S3MambaTrainerBase.weight_decay_value

    def configure_optimizers(self) -> tuple[torch.optim.AdamW, CosineLRScheduler]:
        return paper_optimizer(self.network, self.initial_lr, self.weight_decay, self.num_epochs)


__all__ = define_group_trainers(globals(), "nnunet_controls")
