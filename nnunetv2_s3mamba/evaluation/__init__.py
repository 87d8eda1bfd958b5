"""Lesion-size evaluation: Table 1 metrics per stratum (pooled and per image), lesion detection, pictures."""
from nnunetv2_s3mamba.evaluation.detection import CaseDetection, Lesion, detect_lesions
from nnunetv2_s3mamba.evaluation.metrics import (
    METRICS, Confusion, confusion, mean_image_scores, pooled_scores, scores,
)
from nnunetv2_s3mamba.evaluation.pictures import plot_overlay, plot_overlays, plot_stratum_bars
from nnunetv2_s3mamba.evaluation.report import EvaluationReport, evaluate_folder, write_report

__all__ = [
    "CaseDetection", "Confusion", "EvaluationReport", "Lesion", "METRICS", "confusion", "detect_lesions",
    "evaluate_folder", "mean_image_scores", "plot_overlay", "plot_overlays", "plot_stratum_bars", "pooled_scores",
    "scores", "write_report",
]
