"""Which test frames carry the pooled-IoU gap between two models, per lesion-size stratum.

    s3mamba analyze gap-by-image LABELS_DIR STRATA_JSON REFERENCE_DIR MODEL_DIR [--top 5] [--cvc-sequences]

Why: the pooled mIoU of a stratum (one confusion matrix over all its pixels, the paper's metric) lets a single
frame with a large wrong region move the whole stratum. Before reading a gap between two models as "model B is
worse on small lesions", it matters whether B is a little worse on most frames or grossly wrong on a few. For each
frame this reports how much the gap (reference minus model, points) shrinks when that frame is left out, the gap
with the top frames left out (with their pixel counts), and the per-image IoU differences (how many frames each
model wins by more than a margin). Masks, foreground and strata (`size_strata.json`) read as `s3mamba evaluate`
reads them.

With `--cvc-sequences` (CVC-ClinicDB frames named `..._<frame number>`) it also pools per video sequence: frames of
one sequence are near-duplicates, so on a split that keeps sequences apart the independent units of a comparison
are the sequences, not the frames. It reports each sequence's pooled IoU for both models, how many sequences each
model wins, the range of the gap when any one sequence is left out, and a 95% interval of the gap over test sets
resampled by sequence (`sequence_bootstrap`). Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from nnunetv2_s3mamba.conversion.cvc_sequences import cvc_sequence_of_frame
from nnunetv2_s3mamba.evaluation.metrics import Confusion, pooled_scores
from nnunetv2_s3mamba.evaluation.report import evaluate_folder

MARGIN = 0.02  # per-image IoU difference counted as a win or a loss
BOOTSTRAP_DRAWS, BOOTSTRAP_SEED = 10_000, 0  # fixed, so that the JSON is reproducible


def pooled_iou(confusions: list[Confusion]) -> float:
    """Foreground IoU in % of the summed counts, as `s3mamba evaluate` pools them."""
    return 100.0 * pooled_scores(confusions)["mIoU"]


def pooled_gap(reference: dict[str, Confusion], model: dict[str, Confusion], frames: list[str]) -> float:
    """Reference minus model pooled IoU over `frames`, in points."""
    return pooled_iou([reference[f] for f in frames]) - pooled_iou([model[f] for f in frames])


def frames_by_stratum(strata: dict[str, str]) -> dict[str, list[str]]:
    """"all" and each stratum of `strata` (frame -> stratum) -> its frames, sorted."""
    groups: dict[str, list[str]] = {"all": sorted(strata)}
    for frame in sorted(strata):
        groups.setdefault(strata[frame], []).append(frame)
    return groups


def stratum_gap(reference: dict[str, Confusion], model: dict[str, Confusion], top: int) -> dict:
    """Gap (reference minus model pooled IoU) and each frame's share of it, largest first."""
    frames = sorted(reference)

    def gap_without(left_out: set[str]) -> float:
        return pooled_gap(reference, model, [f for f in frames if f not in left_out])

    gap = gap_without(set())
    contribution = {f: gap - gap_without({f}) for f in frames}
    order = sorted(frames, key=contribution.__getitem__, reverse=True)
    per_image = -np.array([pooled_gap(reference, model, [f]) for f in frames]) / 100
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
    return {name: stratum_gap({f: reference[f] for f in frames}, {f: model[f] for f in frames}, min(top, len(frames)))
            for name, frames in frames_by_stratum(strata).items()}


def sequence_bootstrap(reference: dict[str, Confusion], model: dict[str, Confusion],
                       frames_of: dict[int, list[str]]) -> dict:
    """The gap (reference minus model pooled IoU, points) over test sets drawn from the sequences with replacement.

    Why: with a handful of test sequences, "the model is ahead" can hinge on which sequences happened to be drawn
    to test. Resampling whole sequences (a cluster bootstrap; frames of one sequence are not independent) says how
    much the pooled gap moves with that draw. It says nothing about training noise (that needs a second run), and
    with few sequences it understates the spread: read it as a lower bound on the uncertainty.
    """
    def counts(confusions: dict[str, Confusion]) -> np.ndarray:  # sequences x (tp, fp, fn)
        totals = [sum((confusions[f] for f in frames), Confusion()) for frames in frames_of.values()]
        return np.array([[c.tp, c.fp, c.fn] for c in totals], float)

    n = len(frames_of)
    draws = np.random.default_rng(BOOTSTRAP_SEED).multinomial(n, np.full(n, 1 / n), size=BOOTSTRAP_DRAWS)
    ious = []
    for summed in (draws @ counts(reference), draws @ counts(model)):
        union = summed.sum(axis=1)  # nothing to segment and nothing predicted scores 100, as in `s3mamba evaluate`
        ious.append(np.divide(100 * summed[:, 0], union, out=np.full(len(union), 100.0), where=union > 0))
    gaps = ious[0] - ious[1]
    low, high = np.percentile(gaps, [2.5, 97.5])
    return {"draws": BOOTSTRAP_DRAWS, "gap_95_interval": [round(float(low), 2), round(float(high), 2)],
            "model_ahead_share": round(float((gaps < 0).mean()), 3)}


def sequence_gap(reference: dict[str, Confusion], model: dict[str, Confusion], sequence_of: dict[str, int]) -> dict:
    """Per-sequence pooled IoU of both models, the sequences each wins by more than MARGIN, the range of the gap
    (reference minus model, points) when any single sequence is left out, and `sequence_bootstrap`'s interval."""
    frames_of: dict[int, list[str]] = {}
    for frame in sorted(reference):
        frames_of.setdefault(sequence_of[frame], []).append(frame)
    ious = {seq: (pooled_iou([reference[f] for f in frames]), pooled_iou([model[f] for f in frames]))
            for seq, frames in sorted(frames_of.items())}
    per_sequence = {str(seq): {"frames": len(frames_of[seq]), "reference_iou": round(ref, 2),
                               "model_iou": round(mod, 2)} for seq, (ref, mod) in ious.items()}
    gaps = np.array([ref - mod for ref, mod in ious.values()]) / 100
    left_out = [pooled_gap(reference, model, [f for f in reference if sequence_of[f] != seq]) for seq in frames_of] \
        if len(frames_of) > 1 else []
    return {"sequences": len(frames_of), "per_sequence": per_sequence,
            "sequences_model_better": int((gaps < -MARGIN).sum()),
            "sequences_model_worse": int((gaps > MARGIN).sum()),
            "gap_leaving_out_one_sequence": [round(min(left_out), 2), round(max(left_out), 2)] if left_out else None,
            "sequence_bootstrap": sequence_bootstrap(reference, model, frames_of) if left_out else None}


def cvc_sequences_of(frames: list[str]) -> dict[str, int]:
    """Frame name (`..._<number>`, as `s3mamba convert cvc` names cases) -> CVC-ClinicDB video sequence."""
    numbers = {f: re.search(r"(\d+)$", f) for f in frames}
    unnamed = sorted(f for f, match in numbers.items() if match is None)
    if unnamed:
        raise ValueError(f"--cvc-sequences needs case names that end in the CVC-ClinicDB frame number (cvc_001, ...); "
                         f"these do not: {unnamed[:5]}. Leave the option out for other datasets.")
    return {f: cvc_sequence_of_frame(int(match.group(1))) for f, match in numbers.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("labels", type=Path)
    parser.add_argument("strata", type=Path)
    parser.add_argument("reference", type=Path, help="predictions of the reference model (e.g. nnU-Net's U-Net)")
    parser.add_argument("model", type=Path, help="predictions of the model compared with it")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--cvc-sequences", action="store_true",
                        help="also pool per CVC-ClinicDB video sequence (see the module docstring)")


def run(args: argparse.Namespace) -> int:
    # `s3mamba evaluate`'s reader: the same cases, foreground, strata and checks (missing or mismatched predictions).
    reports = [evaluate_folder(pred_dir, args.labels, args.strata, show_progress=False)
               for pred_dir in (args.reference, args.model)]
    reference, model = ({r.case: r.confusion for r in report.cases} for report in reports)
    strata = {r.case: r.stratum for r in reports[0].cases}
    result = {"reference": str(args.reference), "model": str(args.model), "margin": MARGIN,
              "strata": gap_by_image(reference, model, strata, args.top)}
    if args.cvc_sequences:
        sequence_of = cvc_sequences_of(sorted(reference))
        result["sequences"] = {
            name: sequence_gap({f: reference[f] for f in frames}, {f: model[f] for f in frames}, sequence_of)
            for name, frames in frames_by_stratum(strata).items()}
    print(json.dumps(result, indent=1))
    return 0
