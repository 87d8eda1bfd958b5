"""nnU-Net's own U-Net trained with the regularized curriculum: isolates the curriculum's effect from S3-Mamba's.

Schedule variants are one line each: class attributes that `nnUNetTrainer_CL.__init__` applies after nnU-Net's.
Class names are permanent (nnU-Net stores them in checkpoints and result folder names).
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunetv2_s3mamba.curriculum.trainer_mixin import CurriculumMixin
from nnunetv2_s3mamba.trainers.ddp_batch import DDPEvenBatchMixin
from nnunetv2_s3mamba.trainers.schedule import apply_class_schedule


class nnUNetTrainer_CL(CurriculumMixin, DDPEvenBatchMixin, nnUNetTrainer):
    """nnUNetTrainer + curriculum, with nnU-Net's schedule unless a variant overrides it (and equal per-GPU
    batches under DDP, which nnU-Net's batch Dice needs: `ddp_batch.py`)."""

    epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        apply_class_schedule(self)


class nnUNetTrainer_CL_5epochs(nnUNetTrainer_CL): epochs = 5
class nnUNetTrainer_CL_50epochs(nnUNetTrainer_CL): epochs = 50
class nnUNetTrainer_CL_100epochs(nnUNetTrainer_CL): epochs = 100


__all__ = ["nnUNetTrainer_CL", "nnUNetTrainer_CL_5epochs", "nnUNetTrainer_CL_50epochs", "nnUNetTrainer_CL_100epochs"]
