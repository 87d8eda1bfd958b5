"""Lesion-size evaluation: Table 1 metrics per stratum (pooled and per image), lesion detection per lesion label
and per class, nnU-Net's own summary.json beside it, pictures."""
from nnunetv2_s3mamba.evaluation.detection import CaseDetection, Lesion, detect_lesions
from nnunetv2_s3mamba.evaluation.lesion_choice import evaluation_lesion_labels
from nnunetv2_s3mamba.evaluation.nnunet_summary import write_nnunet_summary
from nnunetv2_s3mamba.evaluation.metrics import (
    METRICS, Confusion, confusion, mean_image_scores, pooled_scores, scores,
)
from nnunetv2_s3mamba.evaluation.pictures import plot_overlay, plot_overlays, plot_stratum_bars
from nnunetv2_s3mamba.evaluation.report import EvaluationReport, evaluate_folder, write_report

__all__ = [
    "CaseDetection", "Confusion", "EvaluationReport", "Lesion", "METRICS", "confusion", "detect_lesions",
    "evaluate_folder", "evaluation_lesion_labels", "mean_image_scores", "plot_overlay", "plot_overlays", "plot_stratum_bars", "pooled_scores",
    "scores", "write_nnunet_summary", "write_report",
]
