"""Test-sized subclasses of the shipped trainers: same code path, only width and iteration counts shrink.

They live outside the package (tests must not add trainer names to the product) and reach nnU-Net through their
own shim folder, exactly as the shipped trainers do.
"""
from nnunetv2_s3mamba.trainers import S3MambaTrainer, S3MambaTrainer_noCL, nnUNetTrainer_CL


class TinyBudget:
    network_preset = "small"
    network_overrides = {"dims": (8, 16, 32, 64)}
    epochs = 2
    iterations_per_epoch = 2
    val_iterations_per_epoch = 1


class S3MambaTrainer_test(TinyBudget, S3MambaTrainer):
    pass


class S3MambaTrainer_noCL_test(TinyBudget, S3MambaTrainer_noCL):
    pass


class nnUNetTrainer_CL_test(nnUNetTrainer_CL):
    epochs, iterations_per_epoch, val_iterations_per_epoch = 2, 3, 1


class nnUNetTrainer_noCL_test(nnUNetTrainer_CL_test):
    use_curriculum = False


__all__ = ["S3MambaTrainer_test", "S3MambaTrainer_noCL_test", "nnUNetTrainer_CL_test", "nnUNetTrainer_noCL_test"]
