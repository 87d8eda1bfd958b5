"""Where each model's pixel errors lie relative to the ground-truth outline, per lesion-size stratum.

    s3mamba analyze boundary-errors LABELS_DIR STRATA_JSON NAME=PRED_DIR [NAME=PRED_DIR ...]   # prints JSON

Why: S3-Mamba's small-stratum mIoU deficit against the U-Net (docs/RESULTS.md) can come from imprecise outlines
(errors in a thin band along the lesion's border, as a coarse output head would leave) or from whole regions that
are missed or invented. Every error pixel gets its distance to the outline: a false positive its distance to the
nearest lesion pixel, a false negative its distance to the nearest background pixel (both at least 1). Pooled per
stratum as `s3mamba evaluate` pools (one confusion matrix over all pixels of the stratum's images), with the IoU a
model would reach if all its errors within k pixels of the outline were corrected. False positives are also split
into those of predicted components that touch no lesion (false alarms) and the rest (a lesion drawn too large),
and frames whose largest predicted component is a false alarm are counted: there nnU-Net's keep-the-largest-component
postprocessing (`s3mamba analyze largest-component`) keeps the wrong region and removes the lesion.
2D PNG masks, foreground > 0, matched by file name; strata from `size_strata.json` (`s3mamba convert ... --split`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from nnunetv2_s3mamba.conversion.split import load_strata_file
from nnunetv2_s3mamba.evaluation.detection import components

BANDS = (1.0, 2.0, 4.0, 8.0)  # upper edges in pixels; the last band is everything farther than 8 px


def error_distances(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Distances to the outline of every false-positive and every false-negative pixel (boolean 2D masks), how
    many false positives belong to predicted components that touch no lesion (components as `s3mamba evaluate`
    finds them), and whether the largest predicted component is such a false alarm. Without a lesion in the image,
    false positives lie at an infinite distance (nothing to be near)."""
    outside = ndimage.distance_transform_edt(~gt) if gt.any() else np.full(gt.shape, np.inf)
    inside = ndimage.distance_transform_edt(gt)
    labels, n = components(pred)
    touches_lesion = np.bincount(labels[gt], minlength=n + 1) > 0
    false_alarm = pred & ~touches_lesion[labels]
    largest_is_false_alarm = n > 0 and not touches_lesion[1 + int(np.argmax(np.bincount(labels[pred])[1:]))]
    return outside[pred & ~gt], inside[gt & ~pred], int(false_alarm.sum()), bool(largest_is_false_alarm)


def band_counts(distances: np.ndarray) -> list[int]:
    """How many distances fall in each band: <= 1, (1, 2], (2, 4], (4, 8], > 8 pixels."""
    return np.bincount(np.searchsorted(BANDS, distances, side="left"), minlength=len(BANDS) + 1).tolist()


def stratum_summary(tp: int, fp_bands: list[int], fn_bands: list[int], fp_false_alarms: int,
                    largest_false_alarm_frames: int) -> dict:
    """Pooled IoU, errors per band, and the IoU with every error within k pixels of the outline corrected."""
    fp, fn = sum(fp_bands), sum(fn_bands)
    iou_if_fixed = {}
    for k, edge in enumerate(BANDS):
        fixed_fp, fixed_fn = sum(fp_bands[:k + 1]), sum(fn_bands[:k + 1])
        iou_if_fixed[f"<={edge:g}px"] = round(100 * (tp + fixed_fn) / (tp + fp + fn - fixed_fp), 2)
    labels = [f"<={BANDS[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(BANDS, BANDS[1:])] + [f">{BANDS[-1]:g}"]
    return {"iou": round(100 * tp / (tp + fp + fn), 2), "tp": tp, "fp": fp, "fn": fn,
            "fp_by_distance_px": dict(zip(labels, fp_bands)), "fn_by_distance_px": dict(zip(labels, fn_bands)),
            "fp_in_false_alarm_components": fp_false_alarms,
            "iou_without_false_alarm_components": round(100 * tp / (tp + fp - fp_false_alarms + fn), 2),
            "frames_whose_largest_component_is_a_false_alarm": largest_false_alarm_frames,
            "iou_if_errors_within_fixed": iou_if_fixed}


def evaluate(pred_dir: Path, labels_dir: Path, strata: dict[str, str]) -> dict[str, dict]:
    totals: dict[str, dict] = {}
    for label_path in sorted(labels_dir.glob("*.png")):
        case = label_path.stem
        gt = np.asarray(Image.open(label_path)) > 0
        pred = np.asarray(Image.open(pred_dir / label_path.name)) > 0
        if pred.shape != gt.shape:
            raise ValueError(f"{pred_dir / label_path.name}: shape {pred.shape}, label {gt.shape}")
        fp_d, fn_d, false_alarms, largest_false = error_distances(pred, gt)
        tp, fp_bands, fn_bands = int((pred & gt).sum()), band_counts(fp_d), band_counts(fn_d)
        for stratum in (strata[case], "all"):
            t = totals.setdefault(stratum, {"tp": 0, "fp": [0] * (len(BANDS) + 1), "fn": [0] * (len(BANDS) + 1),
                                            "false_alarms": 0, "largest_false": 0})
            t["tp"] += tp
            t["fp"] = [a + b for a, b in zip(t["fp"], fp_bands)]
            t["fn"] = [a + b for a, b in zip(t["fn"], fn_bands)]
            t["false_alarms"] += false_alarms
            t["largest_false"] += largest_false
    return {stratum: stratum_summary(t["tp"], t["fp"], t["fn"], t["false_alarms"], t["largest_false"])
            for stratum, t in totals.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("labels", type=Path)
    parser.add_argument("strata", type=Path)
    parser.add_argument("predictions", nargs="+", help="NAME=PRED_DIR")


def run(args: argparse.Namespace) -> int:
    strata = {case: entry["stratum"] for case, entry in load_strata_file(args.strata)["cases"].items()}
    results = {}
    for item in args.predictions:
        name, _, folder = item.partition("=")
        results[name] = evaluate(Path(folder), args.labels, strata)
    print(json.dumps({"bands_px": BANDS, "results": results}, indent=1))
    return 0
