"""`s3mamba evaluate` and `s3mamba overlay`: thin argparse layer over evaluation.report and evaluation.pictures."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnunetv2_s3mamba.evaluation.detection import MIN_LESION_SIZE
from nnunetv2_s3mamba.evaluation.lesion_choice import LESION_LABELS_OPTION, evaluation_lesion_labels
from nnunetv2_s3mamba.evaluation.nnunet_summary import NNUNET_SUMMARY, write_nnunet_summary
from nnunetv2_s3mamba.evaluation.pictures import plot_overlays, plot_stratum_bars
from nnunetv2_s3mamba.evaluation.report import REPORT_STEM, evaluate_folder
from nnunetv2_s3mamba.errors import UserError


def _images_dir(args: argparse.Namespace) -> Path:
    """--images, else the imagesXx sibling of a labelsXx ground-truth folder (nnU-Net raw layout)."""
    if args.images:
        return Path(args.images)
    gt = Path(args.gt_dir)
    if gt.name.startswith("labels") and (gt.parent / gt.name.replace("labels", "images", 1)).is_dir():
        return gt.parent / gt.name.replace("labels", "images", 1)
    raise UserError(f"overlays need the input images: pass --images (no images folder beside {gt}).")


def _lesion(args: argparse.Namespace):
    return evaluation_lesion_labels(args.lesion_labels, args.gt_dir, args.pred_dir, args.dataset_json)


def _add_lesion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(LESION_LABELS_OPTION, "--label", dest="lesion_labels", default=None, metavar="LABELS",
                        help="lesion label(s): names or ids of dataset.json 'labels', comma-separated, e.g. node "
                             "or 1,3; a region name stands for its region (default: all foreground labels)")
    parser.add_argument("--dataset-json", default=None,
                        help="dataset.json for label names (default: beside the GT folder, else in PRED_DIR)")


def _run_evaluate(args: argparse.Namespace) -> int:
    try:
        report = evaluate_folder(args.pred_dir, args.gt_dir, args.strata, args.output, args.lesion_labels,
                                 show_progress=not args.no_progress, min_lesion_size=args.min_lesion_size,
                                 hit_iou=args.hit_iou, dataset_json=args.dataset_json)
        print(report.to_markdown())
        if args.output:
            plot_stratum_bars(report, Path(args.output) / f"{REPORT_STEM}_bars.png")
            if args.overlays:
                plot_overlays(args.pred_dir, args.gt_dir, _images_dir(args), Path(args.output) / "overlays",
                              n=args.overlays, lesion=_lesion(args))
            if not args.no_nnunet_summary:
                write_nnunet_summary(args.pred_dir, args.gt_dir, report.classes, args.output,
                                     report.settings["ignore_label"])
            nnunet = "" if args.no_nnunet_summary else f" and nnU-Net's {NNUNET_SUMMARY}"
            print(f"wrote {REPORT_STEM}.md/.csv/.json, pictures{nnunet} to {args.output}")
        elif args.overlays:
            raise UserError("--overlays needs -o OUT_DIR.")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _run_overlay(args: argparse.Namespace) -> int:
    try:
        written = plot_overlays(args.pred_dir, args.gt_dir, _images_dir(args), args.output, n=args.num,
                                cases=args.cases, lesion=_lesion(args))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} overlay(s) to {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `evaluate` and `overlay` to the `s3mamba` parser."""
    evaluate = subparsers.add_parser("evaluate", help="metrics per lesion-size stratum (Table 1 layout) + detection")
    evaluate.add_argument("pred_dir", help="predicted label maps (<case>.png / .nii.gz)")
    evaluate.add_argument("gt_dir", help="ground-truth label maps (e.g. nnUNet_raw/DatasetXXX/labelsTs)")
    evaluate.add_argument("--strata", default=None, help="size_strata.json written by the split")
    evaluate.add_argument("-o", "--output", default=None, help="folder for .md/.csv/.json and pictures")
    _add_lesion_options(evaluate)
    evaluate.add_argument("--hit-iou", type=float, default=None, metavar="T",
                          help="a GT lesion is hit when its lesion IoU >= T (default: any overlap)")
    evaluate.add_argument("--overlays", type=int, default=0, help="also draw N overlays of the smallest lesions")
    evaluate.add_argument("--images", default=None, help="input images for overlays (default: imagesTs beside GT)")
    evaluate.add_argument("--min-lesion-size", type=int, default=MIN_LESION_SIZE,
                          help=f"components with fewer pixels/voxels are specks, left out of the lesion detection "
                               f"(default {MIN_LESION_SIZE}; 1 counts every component)")
    evaluate.add_argument("--no-nnunet-summary", action="store_true",
                          help=f"do not write nnU-Net's own {NNUNET_SUMMARY} beside the report (needs -o)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=_run_evaluate)

    overlay = subparsers.add_parser("overlay", help="overlay pictures: GT outline red, prediction blue, zoom")
    overlay.add_argument("pred_dir", help="predicted label maps")
    overlay.add_argument("gt_dir", help="ground-truth label maps")
    overlay.add_argument("-o", "--output", required=True, help="folder for overlay_<case>.png")
    overlay.add_argument("--images", default=None, help="input images <case>_0000.* (default: imagesTs beside GT)")
    overlay.add_argument("-n", "--num", type=int, default=8, help="number of smallest-lesion cases (default 8)")
    overlay.add_argument("--cases", nargs="+", default=None, help="draw these cases instead")
    _add_lesion_options(overlay)
    overlay.set_defaults(func=_run_overlay)
