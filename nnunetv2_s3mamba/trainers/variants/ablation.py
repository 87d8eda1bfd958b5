"""The paper's ablation rows (Tables 3-4): EnCF, TCMA and the curriculum switched on or off (`trainers/registry.py`)."""
from nnunetv2_s3mamba.trainers.define import define_group_trainers

__all__ = define_group_trainers(globals(), "ablation")
