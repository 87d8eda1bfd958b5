"""Converters for the paper's 2D datasets and for any image/mask folder pair.

Each converter only knows where its dataset keeps images and masks and how its masks are encoded; reading,
checking, writing and splitting are shared (writer2d.py).
- CVC-ClinicDB: official `Original/*.tif` + `Ground Truth/*.tif`, or `images/` + `masks/` folders (the copy in
  ../shared/data: lossless WebP frames, PNG masks). Masks have soft borders: binarised at >= 128.
- Kvasir-SEG: `images/*.jpg` + `masks/*.jpg`. JPEG masks are noisy: converted to gray, binarised at >= 128.
- ISIC2018 Task 1: `ISIC2018_Task1-2_Training_Input/ISIC_*.jpg` +
  `ISIC2018_Task1_Training_GroundTruth/ISIC_*_segmentation.png` (0/255 masks, kept strict).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from nnunetv2_s3mamba.conversion.cvc_sequences import cvc_sequence_of_frame
from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.writer2d import CasePair, SplitOptions, write_2d_dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
CVC_REFERENCE = ("Bernal et al., WM-DOVA maps for accurate polyp highlighting in colonoscopy, "
                 "Computerized Medical Imaging and Graphics 2015")


def _files_by_stem(folder: Path, strip_suffix: str = "") -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConversionError(f"folder {folder} does not exist.")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        stem = path.stem[: -len(strip_suffix)] if strip_suffix and path.stem.endswith(strip_suffix) else path.stem
        if stem in found:
            raise ConversionError(f"{found[stem]} and {path} have the same name stem; keep only one of them.")
        found[stem] = path
    if not found:
        raise ConversionError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return found


def match_pairs(image_dir: Path, mask_dir: Path, mask_suffix: str = "") -> dict[str, tuple[Path, Path]]:
    """Stem -> (image, mask) for two folders whose files match by name stem (mask stem may end in `mask_suffix`)."""
    images = _files_by_stem(image_dir)
    masks = _files_by_stem(mask_dir, mask_suffix)
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        problems = []
        if no_mask:
            problems.append(f"{len(no_mask)} image(s) in {image_dir} without a mask in {mask_dir}: {no_mask[:10]}")
        if no_image:
            problems.append(f"{len(no_image)} mask(s) in {mask_dir} without an image in {image_dir}: {no_image[:10]}")
        raise ConversionError("; ".join(problems) + ". Every image needs exactly one mask with the same name.")
    return {stem: (images[stem], masks[stem]) for stem in sorted(images)}


def _case_pairs(matches: dict[str, tuple[Path, Path]], case_of_stem) -> list[CasePair]:
    return [CasePair(case_of_stem(stem), image, mask) for stem, (image, mask) in matches.items()]


def cvc_case_id(frame: int) -> str:
    return f"cvc_{frame:03d}"


def cvc_pairs(input_dir: str | os.PathLike) -> list[CasePair]:
    """CVC-ClinicDB pairs from the official layout or from images/masks folders, sorted by frame number."""
    root = Path(input_dir)
    if (root / "Original").is_dir():
        matches = match_pairs(root / "Original", root / "Ground Truth")
    elif (root / "images").is_dir():
        matches = match_pairs(root / "images", root / "masks")
    else:
        raise ConversionError(
            f"{root} holds neither 'Original/' + 'Ground Truth/' (official CVC-ClinicDB layout) nor 'images/' + "
            f"'masks/' folders."
        )
    bad = [stem for stem in matches if not stem.isdigit()]
    if bad:
        raise ConversionError(f"CVC-ClinicDB frames are named by number; unexpected names: {bad[:10]}.")
    pairs = _case_pairs(matches, lambda stem: cvc_case_id(int(stem)))
    return sorted(pairs, key=lambda p: p.case)


def cvc_sequence_groups(cases: Iterable[str]) -> dict[str, str]:
    """Case ID (cvc_NNN) -> video sequence ('seq01'..'seq29') for keeping sequences on one side of a split."""
    groups = {}
    for case in cases:
        prefix, _, frame = case.partition("_")
        if prefix != "cvc" or not frame.isdigit():
            raise ConversionError(f"case {case!r} is not a CVC-ClinicDB frame ID cvc_NNN; cannot find its sequence.")
        groups[case] = f"seq{cvc_sequence_of_frame(int(frame)):02d}"
    return groups


def convert_cvc_clinicdb(
    input_dir: str | os.PathLike, raw_dir: str | os.PathLike | None, dataset_id: int, name: str = "CVCClinicDB",
    *, split: SplitOptions | None = None, keep_sequences: bool = False, limit: int | None = None,
    overwrite: bool = False, show_progress: bool = True,
) -> Path:
    """CVC-ClinicDB -> nnU-Net raw 2D dataset; `keep_sequences` keeps each video sequence on one side of the split.

    `limit` converts only the first `limit` frames (by number), for quick checks.
    """
    pairs = cvc_pairs(input_dir)[:limit]
    if split is not None and keep_sequences:
        split = SplitOptions(**{**split.__dict__, "groups": cvc_sequence_groups(p.case for p in pairs)})
    return write_2d_dataset(
        pairs, raw_dir, dataset_id, name, binarize=True, overwrite=overwrite, split=split, label_name="polyp",
        description="CVC-ClinicDB colonoscopy polyp frames; masks binarised at >= 128", reference=CVC_REFERENCE,
        licence="research and education only, no commercial use (CVC-ClinicDB README)", show_progress=show_progress,
    )


def convert_kvasir_seg(
    input_dir: str | os.PathLike, raw_dir: str | os.PathLike | None, dataset_id: int, name: str = "KvasirSEG",
    *, split: SplitOptions | None = None, limit: int | None = None, overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Kvasir-SEG -> nnU-Net raw 2D dataset; JPEG masks become gray and are binarised at >= 128."""
    root = Path(input_dir)
    pairs = _case_pairs(match_pairs(root / "images", root / "masks"), str)[:limit]
    return write_2d_dataset(
        pairs, raw_dir, dataset_id, name, binarize=True, overwrite=overwrite, split=split, label_name="polyp",
        description="Kvasir-SEG polyp images; JPEG masks converted to gray and binarised at >= 128",
        show_progress=show_progress,
    )


def convert_isic2018(
    input_dir: str | os.PathLike, raw_dir: str | os.PathLike | None, dataset_id: int, name: str = "ISIC2018",
    *, split: SplitOptions | None = None, binarize: bool = False, limit: int | None = None,
    overwrite: bool = False, show_progress: bool = True,
) -> Path:
    """ISIC2018 Task 1 training set -> nnU-Net raw 2D dataset (masks `ISIC_x_segmentation.png`)."""
    root = Path(input_dir)
    matches = match_pairs(root / "ISIC2018_Task1-2_Training_Input", root / "ISIC2018_Task1_Training_GroundTruth",
                          mask_suffix="_segmentation")
    pairs = _case_pairs(matches, str)[:limit]
    return write_2d_dataset(
        pairs, raw_dir, dataset_id, name, binarize=binarize, overwrite=overwrite, split=split, label_name="lesion",
        description="ISIC2018 Task 1 dermoscopy lesion segmentation", show_progress=show_progress,
    )


def convert_folders(
    image_dir: str | os.PathLike, mask_dir: str | os.PathLike, raw_dir: str | os.PathLike | None, dataset_id: int,
    name: str, *, mask_suffix: str = "", binarize: bool = False, split: SplitOptions | None = None,
    overwrite: bool = False, show_progress: bool = True,
) -> Path:
    """Any image folder + mask folder whose files match by name stem -> nnU-Net raw 2D dataset."""
    pairs = _case_pairs(match_pairs(Path(image_dir), Path(mask_dir), mask_suffix), str)
    return write_2d_dataset(pairs, raw_dir, dataset_id, name, binarize=binarize, overwrite=overwrite, split=split,
                            show_progress=show_progress)
