"""Apply nnU-Net's "remove all but the largest component" postprocessing to a folder of 2D PNG predictions.

    s3mamba analyze largest-component PRED_DIR OUT_DIR     # then: s3mamba evaluate OUT_DIR LABELS --strata ...

Why: nnU-Net's own pipeline (`nnUNetv2_find_best_configuration`) keeps only the largest foreground component
when that raises the cross-validation Dice. On the split that keeps video sequences apart, S3-Mamba's lead on small
lesions comes largely from the U-Net's extra false-positive regions (docs/RESULTS.md); whether that lead survives
the postprocessing a user of nnU-Net may get is a question about both models' outputs after it. This applies
nnU-Net's function (`remove_all_but_largest_component_from_segmentation`, all foreground labels as one region) to
saved test predictions, so the same evaluation can be run on them. It writes a new folder and never touches PRED_DIR.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from nnunetv2.postprocessing.remove_connected_components import remove_all_but_largest_component_from_segmentation
from PIL import Image


def keep_largest_component(segmentation: np.ndarray) -> np.ndarray:
    """`segmentation` with every foreground voxel outside its largest foreground component set to background."""
    foreground = tuple(int(v) for v in np.unique(segmentation) if v != 0)
    if not foreground:
        return segmentation.copy()
    return remove_all_but_largest_component_from_segmentation(segmentation, [foreground])


def postprocess_folder(pred_dir: Path, out_dir: Path) -> int:
    """Write every PNG of `pred_dir`, postprocessed, to `out_dir` under the same name; returns how many."""
    if out_dir.resolve() == pred_dir.resolve():
        raise ValueError(f"OUT_DIR must differ from PRED_DIR ({pred_dir}): the predictions would be overwritten")
    files = sorted(pred_dir.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no .png predictions in {pred_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        Image.fromarray(keep_largest_component(np.asarray(Image.open(path)))).save(out_dir / path.name)
    return len(files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred_dir", type=Path)
    parser.add_argument("out_dir", type=Path)


def run(args: argparse.Namespace) -> int:
    print(f"{postprocess_folder(args.pred_dir, args.out_dir)} predictions written to {args.out_dir}")
    return 0
