"""Which test frames carry the pooled-IoU gap between two models, per lesion-size stratum.

    python experiments/gap_by_image.py LABELS_DIR STRATA_JSON REFERENCE_DIR MODEL_DIR [--top 5]   # prints JSON

Why: the pooled mIoU of a stratum (one confusion matrix over all its pixels, the paper's metric) lets a single
frame with a large wrong region move the whole stratum. Before reading a gap between two models as "model B is
worse on small lesions", it matters whether B is a little worse on most frames or grossly wrong on a few. For each
frame this reports how much the gap (reference minus model, points) shrinks when that frame is left out, the gap
with the top frames left out (with their pixel counts), and the per-image IoU differences (how many frames each
model wins by more than a margin). 2D PNG masks, foreground > 0, matched by file name; strata from `size_strata.json`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

MARGIN = 0.02  # per-image IoU difference counted as a win or a loss


def confusion(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(tp, fp, fn) of two boolean masks."""
    return np.array([(pred & gt).sum(), (pred & ~gt).sum(), (~pred & gt).sum()], dtype=np.int64)


def pooled_iou(counts: np.ndarray) -> float:
    """Foreground IoU in % of the summed (tp, fp, fn) rows; 100 when there is nothing to segment or predict."""
    tp, fp, fn = counts.sum(0)
    return 100.0 if tp + fp + fn == 0 else 100.0 * tp / (tp + fp + fn)


def stratum_gap(reference: dict[str, np.ndarray], model: dict[str, np.ndarray], top: int) -> dict:
    """Gap (reference minus model pooled IoU) and each frame's share of it, largest first."""
    frames = sorted(reference)
    ref, mod = np.stack([reference[f] for f in frames]), np.stack([model[f] for f in frames])
    gap = pooled_iou(ref) - pooled_iou(mod)
    keep = np.ones(len(frames), bool)
    contribution = []
    for i in range(len(frames)):
        keep[i] = False
        contribution.append(gap - (pooled_iou(ref[keep]) - pooled_iou(mod[keep])))
        keep[i] = True
    order = np.argsort(contribution)[::-1]
    without = {}
    for k in range(1, top + 1):
        keep = np.ones(len(frames), bool)
        keep[order[:k]] = False
        without[str(k)] = round(pooled_iou(ref[keep]) - pooled_iou(mod[keep]), 2)
    per_image = np.array([pooled_iou(m[None]) - pooled_iou(r[None]) for r, m in zip(ref, mod)]) / 100
    return {"frames": len(frames), "reference_iou": round(pooled_iou(ref), 2), "model_iou": round(pooled_iou(mod), 2),
            "gap": round(gap, 2),
            "top_frames": [{"frame": frames[i], "gap_share": round(contribution[i], 2),
                            "reference_tp_fp_fn": ref[i].tolist(), "model_tp_fp_fn": mod[i].tolist()}
                           for i in order[:top]],
            "gap_without_top_frames": without,
            "per_image_iou_difference_median": round(float(np.median(per_image)), 4),
            "frames_model_better": int((per_image > MARGIN).sum()),
            "frames_model_worse": int((per_image < -MARGIN).sum())}


def read_confusions(pred_dir: Path, labels_dir: Path) -> dict[str, np.ndarray]:
    counts = {}
    for label_path in sorted(labels_dir.glob("*.png")):
        gt = np.asarray(Image.open(label_path)) > 0
        pred_path = pred_dir / label_path.name
        if not pred_path.is_file():
            raise FileNotFoundError(f"{pred_path}: no prediction for {label_path.name}; predict every test frame")
        pred = np.asarray(Image.open(pred_path)) > 0
        if pred.shape != gt.shape:
            raise ValueError(f"{pred_path}: shape {pred.shape}, label {gt.shape}")
        counts[label_path.stem] = confusion(pred, gt)
    return counts


def gap_by_image(reference: dict[str, np.ndarray], model: dict[str, np.ndarray], strata: dict[str, str],
                 top: int = 5) -> dict[str, dict]:
    """`stratum_gap` for every stratum of `strata` (frame -> stratum) and for all frames together."""
    groups: dict[str, list[str]] = {"all": sorted(reference)}
    for frame in sorted(reference):
        groups.setdefault(strata[frame], []).append(frame)
    return {name: stratum_gap({f: reference[f] for f in frames}, {f: model[f] for f in frames}, min(top, len(frames)))
            for name, frames in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("strata", type=Path)
    parser.add_argument("reference", type=Path, help="predictions of the reference model (e.g. nnU-Net's U-Net)")
    parser.add_argument("model", type=Path, help="predictions of the model compared with it")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    cases = json.loads(args.strata.read_text())["cases"]
    strata = {case: entry["stratum"] for case, entry in cases.items()}
    result = gap_by_image(read_confusions(args.reference, args.labels), read_confusions(args.model, args.labels),
                          strata, args.top)
    print(json.dumps({"reference": str(args.reference), "model": str(args.model), "margin": MARGIN,
                      "strata": result}, indent=1))


if __name__ == "__main__":
    main()
