"""How nnU-Net finds our trainers (`nnUNet_extTrainer`) and a health check of an installation."""
from nnunetv2_s3mamba.setup_check.discovery import (EXT_TRAINER_VARIABLE, export_line, ext_trainer_dir,
                                                    is_registered, with_our_folder)
from nnunetv2_s3mamba.setup_check.doctor import Check, run_checks

__all__ = ["EXT_TRAINER_VARIABLE", "ext_trainer_dir", "export_line", "is_registered", "with_our_folder", "Check",
           "run_checks"]
