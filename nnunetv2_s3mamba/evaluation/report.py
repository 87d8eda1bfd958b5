"""Evaluate a prediction folder against ground truth per lesion-size stratum and write the Table 1 layout.

`evaluate_folder` reads every ground-truth case, finds its prediction (same file name), and collects pixel
confusion counts and lesion detections per case. Strata come from the split's strata file (case -> small /
medium / large); without one every case is in 'all'. Lesion-level detection is additionally binned by each
lesion's own pixel count (`data.strata`), with the strata file's thresholds, or without a strata file with
thresholds ranked over the evaluated ground-truth lesions. Lesions are the chosen lesion labels
(`data.lesion_labels`, default all foreground); `per_class` scores each label or region on its own.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from nnunetv2_s3mamba.conversion.label_files import detect_file_ending, list_cases, read_label
from nnunetv2_s3mamba.conversion.split import load_strata_file
from nnunetv2_s3mamba.data.strata import STRATA, StratumThresholds, size_stratum, stratum_thresholds
from nnunetv2_s3mamba.evaluation.detection import (
    MIN_LESION_SIZE, STRICT_IOU, CaseDetection, detect_lesions, detection_summary, hit_rule, lesion_rates,
)
from nnunetv2_s3mamba.evaluation.lesion_choice import evaluation_lesion_labels
from nnunetv2_s3mamba.evaluation.metrics import (
    METRICS, Confusion, confusion, format_percent, mean_image_scores, pooled_scores,
)
from nnunetv2_s3mamba.evaluation.per_class import (
    ClassCase, case_classes, class_case_json, class_markdown, class_table, complete_classes, measure_classes,
)
from nnunetv2_s3mamba.errors import UserError

ALL = "all"
AGGREGATIONS = {"pooled": "pooled over all pixels of the stratum (paper / VM-UNet)",
                "per-image": "mean over images"}
REPORT_STEM = "lesion_size_metrics"


@dataclass
class CaseResult:
    """Everything measured on one case."""

    case: str
    stratum: str
    gt_pixels: int
    confusion: Confusion
    detection: CaseDetection
    per_class: dict[str, ClassCase] = field(default_factory=dict)


@dataclass
class EvaluationReport:
    """Per-case results and the tables built from them; `classes` maps each class name to its label ids."""

    cases: list[CaseResult]
    lesion_thresholds: StratumThresholds
    lesion_threshold_source: str
    settings: dict = field(default_factory=dict)
    classes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def strata(self) -> list[str]:
        present = {c.stratum for c in self.cases}
        return [s for s in STRATA if s in present] + [ALL]

    def _members(self, stratum: str) -> list[CaseResult]:
        return [c for c in self.cases if stratum == ALL or c.stratum == stratum]

    def pixel_table(self) -> dict[str, dict[str, dict[str, float]]]:
        """aggregation -> stratum -> metric -> value (fraction)."""
        table: dict[str, dict[str, dict[str, float]]] = {"pooled": {}, "per-image": {}}
        for s in self.strata:
            confusions = [c.confusion for c in self._members(s)]
            table["pooled"][s] = pooled_scores(confusions)
            table["per-image"][s] = mean_image_scores(confusions)
        return table

    def detection_by_image_stratum(self) -> dict[str, dict[str, float]]:
        return {s: detection_summary([c.detection for c in self._members(s)]) for s in self.strata}

    def detection_by_lesion_size(self) -> dict[str, dict[str, float]]:
        out = {}
        for s in list(STRATA) + [ALL]:
            lesions = [l for c in self.cases for l in c.detection.lesions
                       if s == ALL or size_stratum(l.size, self.lesion_thresholds) == s]
            out[s] = lesion_rates(lesions)
        return out

    def per_class_table(self) -> dict[str, dict]:
        return class_table([c.per_class for c in self.cases], self.classes, self.lesion_thresholds)

    def to_json(self) -> dict:
        return {
            "settings": self.settings,
            "definitions": {
                "pooled": AGGREGATIONS["pooled"], "per-image": AGGREGATIONS["per-image"],
                "mIoU": "foreground IoU TP/(TP+FP+FN), as the paper's predecessor code",
                "lesion": "connected component (full connectivity) of the lesion labels' mask",
                "hit": f"GT lesion found under the hit rule: {self.settings.get('hit_rule', hit_rule(None))}",
                "hit_iou50": f"GT lesion whose IoU with the predicted components touching it is >= {STRICT_IOU}",
                "iou, dice": "a GT lesion's IoU / Dice with the union of the predicted components touching it",
                "false_positive_components": "predicted components touching no GT foreground",
                "min_lesion_size": "components with fewer pixels/voxels are specks: neither lesions nor false "
                                   "positives (counted as ignored_*)",
            },
            "pixel_metrics": self.pixel_table(),
            "detection_by_image_stratum": self.detection_by_image_stratum(),
            "detection_by_lesion_size": self.detection_by_lesion_size(),
            "per_class": self.per_class_table(),
            "lesion_size_thresholds": {"small_max_pixels": self.lesion_thresholds.small_max,
                                       "medium_max_pixels": self.lesion_thresholds.medium_max,
                                       "source": self.lesion_threshold_source},
            "cases": {
                c.case: {"stratum": c.stratum, "gt_pixels": c.gt_pixels, **c.confusion.__dict__,
                         "lesions": [l.__dict__ for l in c.detection.lesions],
                         "false_positive_components": c.detection.false_positive_components,
                         "ignored_gt_components": c.detection.ignored_gt_components,
                         "ignored_predicted_components": c.detection.ignored_predicted_components,
                         "per_class": class_case_json(c.per_class)}
                for c in self.cases
            },
        }

    def to_markdown(self) -> str:
        return format_markdown(self)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["table", "aggregation", "stratum", "metric", "value", "n"])
        for aggregation, rows in self.pixel_table().items():
            for s, values in rows.items():
                for m in METRICS:
                    writer.writerow(["pixel", aggregation, s, m, _num(values[m]), len(self._members(s))])
        for table, rows in (("detection_by_image_stratum", self.detection_by_image_stratum()),
                            ("detection_by_lesion_size", self.detection_by_lesion_size())):
            for s, values in rows.items():
                for key, value in values.items():
                    writer.writerow([table, "", s, key, _num(value), values["lesions"]])
        return buffer.getvalue()


def _num(value: float) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.6g}"


def _nan_to_none(value):
    """Strict JSON has no NaN: undefined metrics become null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def format_markdown(report: EvaluationReport) -> str:
    """Table 1 layout (metric groups x strata, values in %) for both aggregations, then detection tables."""
    strata = report.strata
    short = {"small": "S", "medium": "M", "large": "L", ALL: "All"}
    counts = ", ".join(f"{s}: {len(report._members(s))}" for s in strata)
    lines = [f"## Pixel metrics per lesion-size stratum (%; images per stratum: {counts})", ""]
    header = ["Aggregation"] + [f"{m} {short[s]}" for m in METRICS for s in strata]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for aggregation, rows in report.pixel_table().items():
        cells = [aggregation] + [format_percent(rows[s][m]) for m in METRICS for s in strata]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"pooled = {AGGREGATIONS['pooled']}; per-image = {AGGREGATIONS['per-image']}. "
                  "mIoU is foreground IoU.", ""]
    rule = report.settings.get("hit_rule", hit_rule(None))
    lines += [f"Lesions: {report.settings.get('lesion_labels', 'all foreground labels')}; hit: {rule}.", "",
              "## Lesion detection by image stratum", "",
              "| Stratum | images | GT lesions | hit % | hit % (IoU>=0.5) | mean lesion Dice % | FP components / image |",
              "|---|---|---|---|---|---|---|"]
    for s, d in report.detection_by_image_stratum().items():
        lines.append(f"| {s} | {d['images']} | {d['lesions']} | {format_percent(d['hit_rate'])} | "
                     f"{format_percent(d['hit_rate_iou50'])} | {format_percent(d['mean_lesion_dice'])} | "
                     f"{d['fp_components_per_image']:.2f} |")
    min_size = report.settings.get("min_lesion_size", MIN_LESION_SIZE)
    if min_size > 1:
        ignored_gt = sum(c.detection.ignored_gt_components for c in report.cases)
        ignored_pred = sum(c.detection.ignored_predicted_components for c in report.cases)
        lines += ["", f"Components under {min_size} px are specks, not lesions: {ignored_gt} in the ground truth, "
                      f"{ignored_pred} predicted outside any lesion (neither counted as lesions nor as false "
                      f"positives)."]
    else:
        lines += ["", "Every connected component counts (minimum lesion size 1 px)."]
    small_max, medium_max = report.lesion_thresholds.small_max, report.lesion_thresholds.medium_max
    lines += ["", f"## Lesion detection by lesion size (small <= {small_max} px < medium <= {medium_max} px < large; "
                  f"thresholds from {report.lesion_threshold_source})", "",
              "| Lesion size | GT lesions | hit % | hit % (IoU>=0.5) | mean lesion Dice % |", "|---|---|---|---|---|"]
    for s, d in report.detection_by_lesion_size().items():
        lines.append(f"| {s} | {d['lesions']} | {format_percent(d['hit_rate'])} | "
                     f"{format_percent(d['hit_rate_iou50'])} | {format_percent(d['mean_lesion_dice'])} |")
    lines += [""] + class_markdown(report.per_class_table(), rule)
    return "\n".join(lines) + "\n"


def _voxels(c: Confusion) -> int:
    return c.tp + c.fp + c.fn + c.tn


def _lesion_thresholds(strata_data: dict | None, results: list[CaseResult]) -> tuple[StratumThresholds, str]:
    if strata_data is not None and "thresholds" in strata_data:
        t = strata_data["thresholds"]
        return StratumThresholds(int(t["small_max_pixels"]), int(t["medium_max_pixels"])), "the strata file"
    sizes = [l.size for c in results for l in c.detection.lesions]
    if not sizes:
        return StratumThresholds(0, 0), "no lesions"
    return stratum_thresholds(sizes), "the ranked sizes of the evaluated lesions"


def evaluate_folder(
    pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, strata_file: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None, lesion_labels: str | int | None = None, show_progress: bool = True,
    min_lesion_size: int = MIN_LESION_SIZE, hit_iou: float | None = None,
    dataset_json: str | os.PathLike | None = None,
) -> EvaluationReport:
    """Evaluate every ground-truth case in `gt_dir` against `pred_dir`; write md/csv/json into `out_dir` if given.

    Lesions are the `lesion_labels` (names or ids, comma-separated, resolved against `dataset_json` or the one
    found beside the folders: lesion_choice.py; None: all foreground). A ground-truth case without prediction is
    an error. Connected components under `min_lesion_size` pixels/voxels are left out of the lesion detection;
    `hit_iou` None counts any overlap as a hit, else lesion IoU >= `hit_iou` (detection.py).
    """
    if min_lesion_size < 1:
        raise UserError(f"the minimum lesion size must be at least 1 pixel (1 counts every component); "
                              f"got {min_lesion_size}.")
    if hit_iou is not None and not 0 < hit_iou <= 1:
        raise UserError(f"the hit IoU must be in (0, 1] (leave it out to count any overlap); got {hit_iou}.")
    lesion = evaluation_lesion_labels(lesion_labels, gt_dir, pred_dir, dataset_json)
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    ending = detect_file_ending(gt_dir)
    gt_cases = list_cases(gt_dir, ending)
    pred_cases = list_cases(pred_dir, ending) if pred_dir.is_dir() else {}
    missing = sorted(set(gt_cases) - set(pred_cases))
    if missing:
        raise UserError(f"{len(missing)} ground-truth case(s) of {gt_dir} have no prediction '<case>{ending}' "
                              f"in {pred_dir}: {missing[:20]}{' ...' if len(missing) > 20 else ''}.")
    strata_data = load_strata_file(strata_file) if strata_file is not None else None
    if strata_data is not None:
        unknown = sorted(set(gt_cases) - set(strata_data["cases"]))
        if unknown:
            raise UserError(f"cases {unknown[:20]} are not in strata file {strata_file}; was it written for "
                                  f"this dataset?")
    results, classes = [], {c.name: c.ids for c in lesion.classes}
    for case, gt_path in tqdm(gt_cases.items(), desc="evaluating", disable=not show_progress):
        gt_labels, pred_labels = read_label(gt_path), read_label(pred_cases[case])
        if gt_labels.shape != pred_labels.shape:
            raise UserError(f"prediction {pred_cases[case]} has shape {pred_labels.shape} but ground truth "
                                  f"{gt_path} has {gt_labels.shape}.")
        gt, pred = lesion.mask(gt_labels), lesion.mask(pred_labels)
        stratum = strata_data["cases"][case]["stratum"] if strata_data else ALL
        these_classes = case_classes(lesion, pred_labels, gt_labels)
        classes.update({c.name: c.ids for c in these_classes})
        results.append(CaseResult(case, stratum, int(gt.sum()), confusion(pred, gt),
                                  detect_lesions(pred, gt, min_lesion_size, hit_iou),
                                  measure_classes(these_classes, pred_labels, gt_labels, min_lesion_size, hit_iou)))
    if not lesion.classes:  # ids found in the maps: in id order
        classes = dict(sorted(classes.items(), key=lambda item: item[1]))
    complete_classes([r.per_class for r in results], [_voxels(r.confusion) for r in results], classes)
    thresholds, source = _lesion_thresholds(strata_data, results)
    settings = {"pred_dir": str(pred_dir), "gt_dir": str(gt_dir), "strata_file": str(strata_file) if strata_file
                else None, "lesion_labels": lesion.describe(), "ignore_label": lesion.ignore_label, "hit_rule": hit_rule(hit_iou),
                "hit_iou": hit_iou, "min_lesion_size": min_lesion_size}
    report = EvaluationReport(results, thresholds, source, settings, classes)
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def write_report(report: EvaluationReport, out_dir: str | os.PathLike) -> list[Path]:
    """Write lesion_size_metrics.{md,csv,json} into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{REPORT_STEM}.md", out_dir / f"{REPORT_STEM}.csv", out_dir / f"{REPORT_STEM}.json"]
    paths[0].write_text(report.to_markdown())
    paths[1].write_text(report.to_csv())
    paths[2].write_text(json.dumps(_nan_to_none(report.to_json()), indent=1))
    return paths
