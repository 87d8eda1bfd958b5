"""How nnU-Net finds our trainers (`nnUNet_extTrainer`) and a health check of an installation.

Only the discovery helpers are re-exported: the startup hook imports this package in every Python process, and
`doctor` (import it from `nnunetv2_s3mamba.setup_check.doctor`) pulls in torch.
"""
from nnunetv2_s3mamba.setup_check.discovery import (EXT_TRAINER_VARIABLE, export_line, ext_trainer_dir,
                                                    is_registered, with_our_folder, with_our_folder_appended)

__all__ = ["EXT_TRAINER_VARIABLE", "ext_trainer_dir", "export_line", "is_registered", "with_our_folder",
           "with_our_folder_appended"]
