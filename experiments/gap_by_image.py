"""Which test frames carry the pooled-IoU gap between two models, per lesion-size stratum.

    python experiments/gap_by_image.py LABELS_DIR STRATA_JSON REFERENCE_DIR MODEL_DIR [--top 5]   # prints JSON

Why: the pooled mIoU of a stratum (one confusion matrix over all its pixels, the paper's metric) lets a single
frame with a large wrong region move the whole stratum. Before reading a gap between two models as "model B is
worse on small lesions", it matters whether B is a little worse on most frames or grossly wrong on a few. For each
frame this reports how much the gap (reference minus model, points) shrinks when that frame is left out, the gap
with the top frames left out (with their pixel counts), and the per-image IoU differences (how many frames each
model wins by more than a margin). Masks, foreground and strata (`size_strata.json`) read as `s3mamba evaluate`
reads them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nnunetv2_s3mamba.evaluation.metrics import Confusion, pooled_scores
from nnunetv2_s3mamba.evaluation.report import evaluate_folder

MARGIN = 0.02  # per-image IoU difference counted as a win or a loss


def pooled_iou(confusions: list[Confusion]) -> float:
    """Foreground IoU in % of the summed counts, as `s3mamba evaluate` pools them."""
    return 100.0 * pooled_scores(confusions)["mIoU"]


def stratum_gap(reference: dict[str, Confusion], model: dict[str, Confusion], top: int) -> dict:
    """Gap (reference minus model pooled IoU) and each frame's share of it, largest first."""
    frames = sorted(reference)

    def gap_without(left_out: set[str]) -> float:
        kept = [f for f in frames if f not in left_out]
        return pooled_iou([reference[f] for f in kept]) - pooled_iou([model[f] for f in kept])

    gap = gap_without(set())
    contribution = {f: gap - gap_without({f}) for f in frames}
    order = sorted(frames, key=contribution.__getitem__, reverse=True)
    per_image = np.array([pooled_iou([model[f]]) - pooled_iou([reference[f]]) for f in frames]) / 100
    return {"frames": len(frames), "reference_iou": round(pooled_iou(list(reference.values())), 2),
            "model_iou": round(pooled_iou(list(model.values())), 2), "gap": round(gap, 2),
            "top_frames": [{"frame": f, "gap_share": round(contribution[f], 2),
                            "reference_tp_fp_fn": [reference[f].tp, reference[f].fp, reference[f].fn],
                            "model_tp_fp_fn": [model[f].tp, model[f].fp, model[f].fn]} for f in order[:top]],
            "gap_without_top_frames": {str(k): round(gap_without(set(order[:k])), 2) for k in range(1, top + 1)},
            "per_image_iou_difference_median": round(float(np.median(per_image)), 4),
            "frames_model_better": int((per_image > MARGIN).sum()),
            "frames_model_worse": int((per_image < -MARGIN).sum())}


def gap_by_image(reference: dict[str, Confusion], model: dict[str, Confusion], strata: dict[str, str],
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
    # `s3mamba evaluate`'s reader: the same cases, foreground, strata and checks (missing or mismatched predictions).
    reports = [evaluate_folder(pred_dir, args.labels, args.strata, show_progress=False)
               for pred_dir in (args.reference, args.model)]
    reference, model = ({r.case: r.confusion for r in report.cases} for report in reports)
    strata = {r.case: r.stratum for r in reports[0].cases}
    print(json.dumps({"reference": str(args.reference), "model": str(args.model), "margin": MARGIN,
                      "strata": gap_by_image(reference, model, strata, args.top)}, indent=1))


if __name__ == "__main__":
    main()
