"""Pixel metrics of the paper's Table 1 (mIoU, DSC, ACC, SPE, SEN), pooled and per image.

The paper's predecessor code (VM-UNet's test loop) pools all pixels of a test set into one confusion matrix and
reports foreground IoU as "mIoU": TP/(TP+FP+FN). Pooling lets big lesions dominate, so the mean over images is
reported beside it. Per-image conventions: an image with no lesion and no predicted lesion has IoU = DSC = 1;
SEN is undefined (NaN, left out of the mean) without lesion pixels, SPE without background pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("mIoU", "DSC", "ACC", "SPE", "SEN")


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of one image or of a pooled set."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "Confusion") -> "Confusion":
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def confusion(pred: np.ndarray, gt: np.ndarray) -> Confusion:
    """Confusion counts of two boolean masks of equal shape."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(gt)) - tp
    return Confusion(tp, fp, fn, int(gt.size) - tp - fp - fn)


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def scores(c: Confusion) -> dict[str, float]:
    """The five Table 1 metrics (fractions, not percent) of a confusion count."""
    empty = c.tp + c.fp + c.fn == 0
    return {
        "mIoU": 1.0 if empty else c.tp / (c.tp + c.fp + c.fn),
        "DSC": 1.0 if empty else 2 * c.tp / (2 * c.tp + c.fp + c.fn),
        "ACC": _ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
        "SPE": _ratio(c.tn, c.tn + c.fp),
        "SEN": _ratio(c.tp, c.tp + c.fn),
    }


def pooled_scores(confusions: list[Confusion]) -> dict[str, float]:
    """Metrics of one confusion matrix summed over all images (the paper's way)."""
    return scores(sum(confusions, Confusion()))


def mean_image_scores(confusions: list[Confusion]) -> dict[str, float]:
    """Mean over images of each image's metrics (undefined values left out)."""
    per_image = [scores(c) for c in confusions]
    out = {}
    for m in METRICS:
        values = [s[m] for s in per_image if not np.isnan(s[m])]
        out[m] = float(np.mean(values)) if values else float("nan")
    return out


def format_percent(value: float) -> str:
    """A fraction as a Markdown table cell in %, '-' where undefined."""
    return "-" if np.isnan(value) else f"{100 * value:.2f}"
