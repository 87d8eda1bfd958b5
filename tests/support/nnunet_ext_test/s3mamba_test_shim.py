"""Re-exports the test trainers for nnU-Net's `nnUNet_extTrainer` lookup (see the shipped shim)."""
from s3mamba_test_trainers import *  # noqa: F401,F403
