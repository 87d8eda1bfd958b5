"""Where a model's predicted specks lie: next to lesions (ragged boundaries) or out on their own (false alarms).

    s3mamba analyze speck-distances PRED_DIR LABELS_DIR [--min-lesion-size 10]   # prints JSON

A speck is a predicted component smaller than the minimum lesion size that touches no ground-truth lesion, exactly
as `s3mamba evaluate` counts them (full connectivity). For each, the distance in pixels from its nearest pixel to
the nearest ground-truth lesion pixel or pixel of a predicted component of lesion size. 2D PNG masks, foreground > 0,
matched by file name.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from nnunetv2_s3mamba.evaluation.detection import MIN_LESION_SIZE, components


def speck_distances(pred: np.ndarray, gt: np.ndarray, min_size: int = MIN_LESION_SIZE) -> list[tuple[int, float]]:
    """(size, distance) of every speck of `pred` (boolean 2D masks); distance inf where nothing is near.

    Specks are found as `detect_lesions` finds them: component sizes and contact with the ground truth by bincount.
    """
    labels, n = components(pred)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    touching_gt = np.bincount(labels[gt], minlength=n + 1) > 0
    sizes[0] = 0                                                    # background is no component
    speck_ids = np.flatnonzero((sizes > 0) & (sizes < min_size) & ~touching_gt)
    anchors = gt | (sizes >= min_size)[labels]
    distance = ndimage.distance_transform_edt(~anchors) if anchors.any() else np.full(pred.shape, np.inf)
    nearest = ndimage.minimum(distance, labels, speck_ids) if speck_ids.size else []
    return [(int(sizes[i]), float(d)) for i, d in zip(speck_ids, nearest)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred_dir", type=Path)
    parser.add_argument("labels_dir", type=Path)
    parser.add_argument("--min-lesion-size", type=int, default=MIN_LESION_SIZE)


def run(args: argparse.Namespace) -> int:
    specks, images = [], 0
    for pred_file in sorted(args.pred_dir.glob("*.png")):
        pred = np.array(Image.open(pred_file)) > 0
        gt = np.array(Image.open(args.labels_dir / pred_file.name)) > 0
        found = speck_distances(pred, gt, args.min_lesion_size)
        specks += found
        images += bool(found)
    distances = np.array([d for _, d in specks])
    print(json.dumps({"pred_dir": str(args.pred_dir), "specks": len(specks), "images_with_specks": images,
                      "within_2_px": int((distances <= 2).sum()), "within_5_px": int((distances <= 5).sum()),
                      "median_size_px": float(np.median([s for s, _ in specks])) if specks else None,
                      "median_distance_px": float(np.median(distances)) if specks else None}, indent=1))
    return 0
