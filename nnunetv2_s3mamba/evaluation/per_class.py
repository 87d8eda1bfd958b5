"""Per-class evaluation: each lesion label or region scored on its own, with its own connected components.

The main tables score the union of the lesion labels (one lesion mask, as the curriculum measures it); in a
multi-class label map that merges touching lesions of different classes and hides a class that is never found.
Here each class is masked alone (`LesionClass.mask`), its components found alone, and a predicted component of
class c that touches no ground truth of class c is a false positive of class c. Classes are the chosen lesion
labels, or without dataset.json the label ids found in the ground truth and the predictions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnunetv2_s3mamba.data.lesion_labels import LesionClass, LesionLabels
from nnunetv2_s3mamba.data.strata import STRATA, StratumThresholds, size_stratum
from nnunetv2_s3mamba.evaluation.detection import (
    CaseDetection, detect_lesions, detection_summary, lesion_rates,
)
from nnunetv2_s3mamba.evaluation.metrics import (
    Confusion, confusion, format_percent, mean_image_scores, pooled_scores,
)

ALL_SIZES = "all"


@dataclass
class ClassCase:
    """One class in one case: its pixel confusion counts and its lesion detection."""

    confusion: Confusion
    detection: CaseDetection


def case_classes(lesion: LesionLabels, pred_labels: np.ndarray, gt_labels: np.ndarray) -> tuple[LesionClass, ...]:
    """The chosen classes, or (no dataset.json) one class per label id > 0 present in either map."""
    if lesion.classes:
        return lesion.classes
    present = np.union1d(np.unique(pred_labels), np.unique(gt_labels))
    return tuple(LesionClass(f"label_{k}", (int(k),)) for k in present if k > 0 and k != lesion.ignore_label)


def measure_classes(classes: tuple[LesionClass, ...], pred_labels: np.ndarray, gt_labels: np.ndarray,
                    min_size: int, hit_iou: float | None) -> dict[str, ClassCase]:
    out = {}
    for c in classes:
        pred, gt = c.mask(pred_labels), c.mask(gt_labels)
        out[c.name] = ClassCase(confusion(pred, gt), detect_lesions(pred, gt, min_size, hit_iou))
    return out


def complete_classes(per_case: list[dict[str, ClassCase]], case_sizes: list[int],
                     classes: dict[str, tuple[int, ...]]) -> None:
    """A class absent from a case's maps was not measured there: it has no lesion and no prediction."""
    for measured, size in zip(per_case, case_sizes):
        for name in classes:
            measured.setdefault(name, ClassCase(Confusion(tn=size), CaseDetection()))


def class_table(per_case: list[dict[str, ClassCase]], classes: dict[str, tuple[int, ...]],
                thresholds: StratumThresholds) -> dict[str, dict]:
    """class -> ids, pixel metrics (pooled, per-image), detection summary, recall by lesion size."""
    table = {}
    for name, ids in classes.items():
        cases = [measured[name] for measured in per_case]
        confusions = [c.confusion for c in cases]
        lesions = [l for c in cases for l in c.detection.lesions]
        by_size = {s: lesion_rates([l for l in lesions if size_stratum(l.size, thresholds) == s]) for s in STRATA}
        table[name] = {"ids": list(ids),
                       "pixel_metrics": {"pooled": pooled_scores(confusions),
                                         "per-image": mean_image_scores(confusions)},
                       "detection": detection_summary([c.detection for c in cases]),
                       "detection_by_lesion_size": {**by_size, ALL_SIZES: lesion_rates(lesions)}}
    return table


def class_case_json(measured: dict[str, ClassCase]) -> dict[str, dict]:
    return {name: {**m.confusion.__dict__, "lesions": [l.__dict__ for l in m.detection.lesions],
                   "false_positive_components": m.detection.false_positive_components}
            for name, m in measured.items()}


def class_markdown(table: dict[str, dict], hit_rule: str) -> list[str]:
    """The per-class section of the Markdown report."""
    lines = [f"## Per class (each class's own components; hit: {hit_rule})", "",
             "| Class | ids | GT lesions | recall % | recall % S / M / L | recall % (IoU>=0.5) | mean lesion Dice % "
             "| FP components (total, / image) | DSC % (pooled) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in table.items():
        d, sizes = row["detection"], row["detection_by_lesion_size"]
        by_size = " / ".join(format_percent(sizes[s]["hit_rate"]) for s in STRATA)
        lines.append(f"| {name} | {'+'.join(map(str, row['ids']))} | {d['lesions']} | {format_percent(d['hit_rate'])} | "
                     f"{by_size} | {format_percent(d['hit_rate_iou50'])} | {format_percent(d['mean_lesion_dice'])} | "
                     f"{d['false_positive_components']}, {d['fp_components_per_image']:.2f} | "
                     f"{format_percent(row['pixel_metrics']['pooled']['DSC'])} |")
    return lines
