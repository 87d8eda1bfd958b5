"""Changes to nnU-Net plans that our users make for multi-GPU training (nnU-Net's own plans format, no fork)."""
from nnunetv2_s3mamba.plans.scaled_batch import PlansEditError, add_scaled_batch_configuration

__all__ = ["add_scaled_batch_configuration", "PlansEditError"]
