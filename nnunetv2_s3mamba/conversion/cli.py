"""`s3mamba convert {cvc,kvasir,isic,folders,nifti-slices}`, `s3mamba split`, `s3mamba reassemble`, `s3mamba synth`.

A thin argparse layer: every command calls one importable function and turns a UserError (ConversionError is one)
into a one-line message and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nnunetv2_s3mamba.conversion.datasets import (
    convert_cvc_clinicdb, convert_folders, convert_isic2018, convert_kvasir_seg, cvc_sequence_groups,
)
from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.label_files import list_cases
from nnunetv2_s3mamba.conversion.nifti_slices import export_nifti_slices, reassemble_slices
from nnunetv2_s3mamba.conversion.nifti_volumes import NONFINITE_POLICIES
from nnunetv2_s3mamba.conversion.raw_dataset import split_raw_dataset
from nnunetv2_s3mamba.conversion.split import DEFAULT_TEST_FRACTION, STRATA_FILE_NAME
from nnunetv2_s3mamba.conversion.staging import dataset_folder_name, find_dataset_dir
from nnunetv2_s3mamba.conversion.synthetic import make_synthetic_lesion_dataset
from nnunetv2_s3mamba.conversion.writer2d import SplitOptions
from nnunetv2_s3mamba.errors import UserError


def preprocessed_splits_path(dataset_id: int, name: str) -> Path:
    """$nnUNet_preprocessed/DatasetXXX_Name/splits_final.json, where nnU-Net's trainer looks for the folds."""
    root = os.environ.get("nnUNet_preprocessed")
    if not root:
        raise ConversionError("--preprocessed-splits needs $nnUNet_preprocessed; set it or use --splits-final PATH.")
    return Path(root) / dataset_folder_name(dataset_id, name) / "splits_final.json"


def _guarded(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args) or 0
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return run


def _add_output_args(parser: argparse.ArgumentParser, default_name: str | None) -> None:
    parser.add_argument("-o", "--output", default=None, help="nnU-Net raw folder (default: $nnUNet_raw)")
    parser.add_argument("-d", "--dataset-id", type=int, required=True, help="nnU-Net dataset ID (1..999)")
    parser.add_argument("--name", default=default_name, required=default_name is None,
                        help=f"dataset name (folder DatasetXXX_NAME; default {default_name})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset / splits file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_split_args(parser: argparse.ArgumentParser, optional: bool) -> None:
    group = parser.add_argument_group("size-stratified split (paper: 30/30/40 strata, 30 percent of each to test)")
    if optional:
        group.add_argument("--split", action="store_true", help="apply the paper's size-stratified split")
    group.add_argument("--seed", type=int, default=0, help="seed of the test draw (default 0)")
    group.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION, help="share of each stratum")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--splits-final", default=None, help="write nnU-Net's 5 training folds to this file")
    where.add_argument("--preprocessed-splits", action="store_true",
                       help="write them to $nnUNet_preprocessed/DatasetXXX_Name/splits_final.json")


def _split_options(args: argparse.Namespace, groups=None) -> SplitOptions | None:
    if not getattr(args, "split", True):
        if args.splits_final or args.preprocessed_splits:
            raise ConversionError("--splits-final / --preprocessed-splits need --split.")
        return None
    path = preprocessed_splits_path(args.dataset_id, args.name) if args.preprocessed_splits else args.splits_final
    return SplitOptions(seed=args.seed, test_fraction=args.test_fraction, groups=groups, splits_final=path,
                        overwrite_splits=args.overwrite)


def _report(path: Path) -> int:
    strata = path / STRATA_FILE_NAME
    print(f"wrote {path}")
    if strata.exists():
        print("strata (cases, test):", json.dumps(json.loads(strata.read_text())["summary"]))
    return 0


@_guarded
def _run_cvc(args):
    return _report(convert_cvc_clinicdb(args.input, args.output, args.dataset_id, args.name,
                                        split=_split_options(args), keep_sequences=args.keep_sequences,
                                        limit=args.limit, overwrite=args.overwrite, show_progress=not args.no_progress))


@_guarded
def _run_kvasir(args):
    return _report(convert_kvasir_seg(args.input, args.output, args.dataset_id, args.name, split=_split_options(args),
                                      limit=args.limit, overwrite=args.overwrite, show_progress=not args.no_progress))


@_guarded
def _run_isic(args):
    return _report(convert_isic2018(args.input, args.output, args.dataset_id, args.name, split=_split_options(args),
                                    binarize=args.binarize, limit=args.limit, overwrite=args.overwrite,
                                    show_progress=not args.no_progress))


@_guarded
def _run_folders(args):
    return _report(convert_folders(args.images, args.masks, args.output, args.dataset_id, args.name,
                                   mask_suffix=args.mask_suffix, binarize=args.binarize, split=_split_options(args),
                                   overwrite=args.overwrite, show_progress=not args.no_progress))


@_guarded
def _run_nifti(args):
    names = args.channel_names.split(",") if args.channel_names else None
    label_names = args.label_names.split(",") if args.label_names else None
    return _report(export_nifti_slices(args.input, args.output, args.dataset_id, args.name,
                                       keep_empty_fraction=args.keep_empty, seed=args.seed, binarize=args.binarize,
                                       channel_names=names, label_names=label_names, nonfinite=args.nonfinite,
                                       overwrite=args.overwrite, show_progress=not args.no_progress))


@_guarded
def _run_split(args):
    dataset = find_dataset_dir(args.output, args.dataset_id)
    args.name = dataset.name.split("_", 1)[1]
    groups = None
    if args.cvc_sequences:
        ending = json.loads((dataset / "dataset.json").read_text())["file_ending"]
        groups = cvc_sequence_groups(list_cases(dataset / "labelsTr", ending))
    options = _split_options(args, groups)
    split_raw_dataset(args.dataset_id, args.output, seed=options.seed, test_fraction=options.test_fraction,
                      groups=groups, splits_final=options.splits_final, overwrite_splits=args.overwrite,
                      label=args.label)
    return _report(dataset)


@_guarded
def _run_reassemble(args):
    written = reassemble_slices(args.input, args.index, args.output_dir, source_dir=args.source_dir,
                                overwrite=args.overwrite, show_progress=not args.no_progress)
    print(f"wrote {len(written)} volume(s) to {args.output_dir}")
    return 0


@_guarded
def _run_synth(args):
    return _report(make_synthetic_lesion_dataset(args.output, args.dataset_id, args.num_cases, args.size, args.seed,
                                                 name=args.name, overwrite=args.overwrite,
                                                 show_progress=not args.no_progress))


def _public_dataset_parser(kinds, kind: str, help_text: str, dataset: str, default_name: str, run):
    """`s3mamba convert KIND -i FOLDER [--limit N]` with the output and split options every converter takes."""
    parser = kinds.add_parser(kind, help=help_text)
    parser.add_argument("-i", "--input", required=True, help=f"{dataset} folder")
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N images")
    _add_output_args(parser, default_name)
    _add_split_args(parser, optional=True)
    parser.set_defaults(func=run)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the conversion subcommands to the `s3mamba` parser."""
    convert = subparsers.add_parser("convert", help="convert a dataset to nnU-Net raw format")
    kinds = convert.add_subparsers(dest="kind", required=True)

    cvc = _public_dataset_parser(kinds, "cvc", "CVC-ClinicDB (Original/ + 'Ground Truth/' TIFFs, or images/ + "
                                 "masks/)", "CVC-ClinicDB", "CVCClinicDB", _run_cvc)
    cvc.add_argument("--keep-sequences", action="store_true",
                     help="keep each of the 29 video sequences on one side of the test split")
    _public_dataset_parser(kinds, "kvasir", "Kvasir-SEG (images/*.jpg, masks/*.jpg; masks thresholded at 128)",
                           "Kvasir-SEG", "KvasirSEG", _run_kvasir)

    isic = kinds.add_parser("isic", help="ISIC2018 Task 1 training input + ground truth folders")
    isic.add_argument("-i", "--input", required=True, help="folder holding the two ISIC2018_Task1* folders")
    isic.add_argument("--binarize", action="store_true", help="threshold masks at 128 instead of requiring 0/255")
    isic.add_argument("--limit", type=int, default=None, help="convert only the first N images")
    _add_output_args(isic, "ISIC2018")
    _add_split_args(isic, optional=True)
    isic.set_defaults(func=_run_isic)

    folders = kinds.add_parser("folders", help="any image folder + mask folder matched by file name stem")
    folders.add_argument("--images", required=True, help="image folder")
    folders.add_argument("--masks", required=True, help="mask folder")
    folders.add_argument("--mask-suffix", default="", help="suffix of mask stems, e.g. _mask or _segmentation")
    folders.add_argument("--binarize", action="store_true", help="gray + threshold at 128 for noisy/colour masks")
    _add_output_args(folders, None)
    _add_split_args(folders, optional=True)
    folders.set_defaults(func=_run_folders)

    nifti = kinds.add_parser("nifti-slices", help="3D NIfTI volumes (MSD / nnU-Net layout) -> 2D slice dataset")
    nifti.add_argument("-i", "--input", required=True, help="folder with imagesTr/, labelsTr/ (imagesTs/ optional)")
    nifti.add_argument("--keep-empty", type=float, default=1.0,
                       help="share of lesion-free training slices to keep (seeded; default 1 = all)")
    nifti.add_argument("--seed", type=int, default=0, help="seed of the lesion-free slice draw")
    nifti.add_argument("--binarize", action="store_true",
                       help="merge all classes: labels > 0 become 1 (default: keep every class 0..K)")
    nifti.add_argument("--label-names", default=None,
                       help="comma-separated names of classes 1..K for dataset.json (default class_1, class_2, ...)")
    nifti.add_argument("--nonfinite", choices=NONFINITE_POLICIES, default="error",
                       help="NaN/inf image voxels: error (default) or zero (replace by 0, with a warning)")
    nifti.add_argument("--channel-names", default=None, help="comma-separated channel names (default MRI)")
    _add_output_args(nifti, None)
    nifti.set_defaults(func=_run_nifti)

    split = subparsers.add_parser("split", help="size-stratified test split of an existing nnU-Net raw dataset")
    split.add_argument("-o", "--output", default=None, help="nnU-Net raw folder (default: $nnUNet_raw)")
    split.add_argument("-d", "--dataset-id", type=int, required=True, help="nnU-Net dataset ID")
    split.add_argument("--cvc-sequences", action="store_true",
                       help="CVC-ClinicDB (case IDs cvc_NNN): keep video sequences on one side")
    split.add_argument("--label", type=int, default=None, help="count only this label (default: label > 0)")
    split.add_argument("--overwrite", action="store_true", help="replace an existing splits file")
    _add_split_args(split, optional=False)
    split.set_defaults(func=_run_split)

    reassemble = subparsers.add_parser("reassemble", help="2D slice predictions -> 3D volumes (source geometry)")
    reassemble.add_argument("-i", "--input", required=True, help="folder of slice predictions {case}_zNNN.nii.gz")
    reassemble.add_argument("-x", "--index", required=True, help="slice_index.json of the slice dataset")
    reassemble.add_argument("-o", "--output-dir", required=True, help="folder for {case}.nii.gz volumes")
    reassemble.add_argument("--source-dir", default=None, help="where the source volumes are now, if moved")
    reassemble.add_argument("--overwrite", action="store_true", help="replace existing volumes")
    reassemble.add_argument("--no-progress", action="store_true", help="no progress bars")
    reassemble.set_defaults(func=_run_reassemble)

    synth = subparsers.add_parser("synth", help="write a small synthetic lesion dataset (nnU-Net raw, RGB PNG)")
    synth.add_argument("-n", "--num-cases", type=int, default=60, help="number of cases (default 60)")
    synth.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    synth.add_argument("--seed", type=int, default=0, help="random seed")
    _add_output_args(synth, "SyntheticLesions")
    synth.set_defaults(func=_run_synth)
