"""Definitions about the data that the split, the curriculum and the evaluation share (NumPy only)."""
from nnunetv2_s3mamba.data.lesion_labels import (
    LESION_LABELS_ENV, LesionClass, LesionLabels, dataset_lesion_classes, resolve_lesion_labels,
)
from nnunetv2_s3mamba.data.strata import (
    STRATA, STRATUM_BOUNDS, StratumThresholds, size_stratum, stratum_thresholds,
)

__all__ = ["LESION_LABELS_ENV", "LesionClass", "LesionLabels", "STRATA", "STRATUM_BOUNDS", "StratumThresholds",
           "dataset_lesion_classes", "resolve_lesion_labels", "size_stratum", "stratum_thresholds"]
