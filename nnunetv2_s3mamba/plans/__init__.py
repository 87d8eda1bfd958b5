"""Changes to nnU-Net plans that our users make: the plan's batch on every GPU for multi-GPU training, and the
paper's input size and batch (nnU-Net's own plans format, configurations that inherit a planned one; no fork)."""
from nnunetv2_s3mamba.plans.paper_input import add_paper_input_configuration
from nnunetv2_s3mamba.plans.plans_file import PlansEditError
from nnunetv2_s3mamba.plans.scaled_batch import add_scaled_batch_configuration

__all__ = ["add_paper_input_configuration", "add_scaled_batch_configuration", "PlansEditError"]
