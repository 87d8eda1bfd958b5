"""S3-Mamba with another optimiser or learning rate than the paper's AdamW 1e-4 (`trainers/registry.py`)."""
from nnunetv2_s3mamba.trainers.define import define_group_trainers

__all__ = define_group_trainers(globals(), "optimizer")
