"""How nnU-Net finds our trainers (`nnUNet_extTrainer`) and a health check of an installation."""
from nnunetv2_s3mamba.setup_check.discovery import EXT_TRAINER_VARIABLE, ext_trainer_dir, export_line, is_registered
from nnunetv2_s3mamba.setup_check.doctor import Check, run_checks

__all__ = ["EXT_TRAINER_VARIABLE", "ext_trainer_dir", "export_line", "is_registered", "Check", "run_checks"]
