"""Write image/mask pairs as an nnU-Net raw 2D dataset (one RGB `_0000.png` per case, 0/1 label PNGs).

The layout follows nnU-Net's Dataset120_RoadSegmentation example: an RGB PNG is one file `{case}_0000.png` whose
three channels dataset.json names R, G, B. Everything is written into a staging folder (staging.py), the
optional size-stratified split is applied there, and only a complete dataset is moved into place.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.image_io import read_image_rgb, read_mask, write_png
from nnunetv2_s3mamba.conversion.raw_dataset import split_dataset_folder
from nnunetv2_s3mamba.conversion.split import DEFAULT_TEST_FRACTION, write_splits_final
from nnunetv2_s3mamba.conversion.staging import dataset_folder_name, resolve_raw_dir, staged_dataset
from nnunetv2_s3mamba.data.strata import STRATUM_BOUNDS

RGB_CHANNELS = {0: "R", 1: "G", 2: "B"}


@dataclass(frozen=True)
class CasePair:
    """One case: its nnU-Net case ID, the image file and the mask file."""

    case: str
    image: Path
    mask: Path


@dataclass(frozen=True)
class SplitOptions:
    """The paper's size-stratified split, applied while converting (see split.py)."""

    seed: int = 0
    test_fraction: float = DEFAULT_TEST_FRACTION
    bounds: tuple[float, float] = STRATUM_BOUNDS
    groups: Mapping[str, str] | None = None
    splits_final: str | os.PathLike | None = None
    overwrite_splits: bool = False


def convert_case(pair: CasePair, images_dir: Path, labels_dir: Path, binarize: bool) -> None:
    """Read, check and write one case; errors name both files."""
    image = read_image_rgb(pair.image)
    mask = read_mask(pair.mask, binarize=binarize)
    if image.shape[:2] != mask.shape:
        raise ConversionError(
            f"image {pair.image} is {image.shape[1]}x{image.shape[0]} (WxH) but its mask {pair.mask} is "
            f"{mask.shape[1]}x{mask.shape[0]}; they must match. Fix or remove this pair."
        )
    write_png(image, images_dir / f"{pair.case}_0000.png")
    write_png(mask, labels_dir / f"{pair.case}.png")


def write_2d_dataset(
    pairs: Sequence[CasePair], raw_dir: str | os.PathLike | None, dataset_id: int, name: str, *,
    binarize: bool = False, overwrite: bool = False, split: SplitOptions | None = None,
    label_name: str = "lesion", description: str | None = None, reference: str | None = None,
    licence: str | None = None, show_progress: bool = True,
) -> Path:
    """Convert `pairs` into nnUNet_raw/DatasetXXX_name and return the dataset folder."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    if not pairs:
        raise ConversionError("no image/mask pairs to convert.")
    duplicates = sorted(case for case, n in Counter(p.case for p in pairs).items() if n > 1)
    if duplicates:
        raise ConversionError(f"several inputs map to the same case ID: {duplicates[:10]}.")
    if split is not None and split.splits_final is not None and Path(split.splits_final).exists() \
            and not split.overwrite_splits:
        raise ConversionError(f"{split.splits_final} already exists; pass --overwrite to replace it.")
    folder = dataset_folder_name(dataset_id, name)
    with staged_dataset(raw_dir, dataset_id, name, overwrite) as staging:
        images_dir, labels_dir = staging / "imagesTr", staging / "labelsTr"
        images_dir.mkdir()
        labels_dir.mkdir()
        for pair in tqdm(pairs, desc=f"converting {name}", disable=not show_progress):
            convert_case(pair, images_dir, labels_dir, binarize)
        extras = {k: v for k, v in (("description", description), ("reference", reference)) if v}
        generate_dataset_json(
            str(staging), dict(RGB_CHANNELS), {"background": 0, label_name: 1}, len(pairs), ".png",
            dataset_name=folder,
            license=licence or "see the source dataset's terms",
            converted_by="nnunetv2_s3mamba", **extras,
        )
        result = None
        if split is not None:
            result = split_dataset_folder(staging, split.seed, split.test_fraction, split.bounds, split.groups,
                                          show_progress=show_progress)
    if result is not None and split.splits_final is not None:
        write_splits_final(result.folds, split.splits_final, overwrite=split.overwrite_splits)
    return resolve_raw_dir(raw_dir) / folder
