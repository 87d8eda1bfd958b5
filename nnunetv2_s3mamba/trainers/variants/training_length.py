"""How long a trainer trains: the registry's rule `<row>_<N>epochs` and the quickstart's and pipeline check's fixed
CPU budgets (`trainers/registry.py`). The rows' parents come from their own group modules."""
from nnunetv2_s3mamba.trainers.define import define_group_trainers

__all__ = define_group_trainers(globals(), "training_length")
