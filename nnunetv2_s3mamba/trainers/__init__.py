"""nnU-Net trainers for S3-Mamba and its ablations, plus nnU-Net's own U-Net with our curriculum and under our
15-epoch comparison budget.

The shipped shim (`nnunet_ext/s3mamba_nnunet_shim.py`) re-exports exactly `__all__`.
"""
from nnunetv2_s3mamba.trainers.nnunet_budget import *  # noqa: F401,F403
from nnunetv2_s3mamba.trainers.nnunet_budget import __all__ as _budget_names
from nnunetv2_s3mamba.trainers.nnunet_cl import *  # noqa: F401,F403
from nnunetv2_s3mamba.trainers.nnunet_cl import __all__ as _cl_names
from nnunetv2_s3mamba.trainers.variants import *  # noqa: F401,F403
from nnunetv2_s3mamba.trainers.variants import __all__ as _variant_names

__all__ = list(_variant_names) + list(_cl_names) + list(_budget_names)
