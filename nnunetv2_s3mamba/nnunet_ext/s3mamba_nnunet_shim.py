"""Shim that nnU-Net imports while it searches `nnUNet_extTrainer` for trainer classes.

It only re-exports: the classes stay defined in `nnunetv2_s3mamba.trainers`, so they pickle by their real module
(nnU-Net's data-loader workers need that under spawn/forkserver). Keep this folder free of any other module.
"""
from nnunetv2_s3mamba.trainers import *  # noqa: F401,F403
from nnunetv2_s3mamba.trainers import __all__  # noqa: F401
