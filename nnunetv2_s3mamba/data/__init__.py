"""Definitions about the data that the split, the curriculum and the evaluation share (NumPy only)."""
from nnunetv2_s3mamba.data.strata import (
    STRATA, STRATUM_BOUNDS, StratumThresholds, size_stratum, stratum_thresholds,
)

__all__ = ["STRATA", "STRATUM_BOUNDS", "StratumThresholds", "size_stratum", "stratum_thresholds"]
