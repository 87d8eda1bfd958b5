"""S3-Mamba with a changed network: where TCMA acts, stochastic depth, the preset (`trainers/registry.py`)."""
from nnunetv2_s3mamba.trainers.define import define_group_trainers

__all__ = define_group_trainers(globals(), "network")
