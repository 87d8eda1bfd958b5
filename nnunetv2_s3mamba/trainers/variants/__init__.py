"""Trainer variants, one module per thing they vary (as nnU-Net's `training/nnUNetTrainer/variants/`); every class
is built from its row in `trainers/registry.py`.

`S3MambaTrainer`, the paper's trainer that every S3-Mamba row derives from, is built here rather than in a group
module so that its import path stays `nnunetv2_s3mamba.trainers.variants.S3MambaTrainer`, as `s3mamba doctor`
reports it.
"""
from nnunetv2_s3mamba.curriculum.trainer_mixin import CurriculumMixin  # noqa: F401 (a base of S3MambaTrainer)
from nnunetv2_s3mamba.trainers.define import define_group_trainers
from nnunetv2_s3mamba.trainers.s3mamba_trainer import S3MambaTrainerBase  # noqa: F401 (a base of S3MambaTrainer)

__all__ = define_group_trainers(globals(), "paper")
