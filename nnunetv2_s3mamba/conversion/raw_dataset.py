"""Operations on an nnU-Net raw dataset folder: lesion pixel counts and applying a size-stratified split.

`split_raw_dataset` works on a copy of the dataset (see staging.py) so that a failure leaves it untouched.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.label_files import foreground, list_cases, read_label
from nnunetv2_s3mamba.conversion.split import (
    DEFAULT_TEST_FRACTION, STRATA_FILE_NAME, StratifiedSplit, make_stratified_split, write_splits_final,
)
from nnunetv2_s3mamba.conversion.staging import find_dataset_dir, staged_dataset
from nnunetv2_s3mamba.data.strata import STRATUM_BOUNDS


def read_dataset_json(dataset_dir: Path) -> dict:
    path = Path(dataset_dir) / "dataset.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConversionError(f"cannot read {path}: {error}. Is {dataset_dir} an nnU-Net raw dataset?") from error


def lesion_pixel_counts(dataset_dir: Path, label: int | None = None, show_progress: bool = True) -> dict[str, int]:
    """Foreground pixel count of every training label (labelsTr) of a raw dataset."""
    dataset_dir = Path(dataset_dir)
    ending = read_dataset_json(dataset_dir)["file_ending"]
    cases = list_cases(dataset_dir / "labelsTr", ending)
    if not cases:
        raise ConversionError(f"{dataset_dir / 'labelsTr'} holds no '*{ending}' label files.")
    return {
        case: int(foreground(read_label(path), label).sum())
        for case, path in tqdm(cases.items(), desc="lesion sizes", disable=not show_progress)
    }


def apply_split(dataset_dir: Path, split: StratifiedSplit) -> None:
    """Move the test cases of `split` to imagesTs/labelsTs, write the strata file and update numTraining."""
    dataset_dir = Path(dataset_dir)
    info = read_dataset_json(dataset_dir)
    ending = info["file_ending"]
    for sub in ("imagesTs", "labelsTs"):
        folder = dataset_dir / sub
        if folder.is_dir() and any(folder.iterdir()):
            raise ConversionError(f"{folder} is not empty: the dataset is already split. Convert it again to re-split.")
        folder.mkdir(exist_ok=True)
    channel_files = re.compile(r"^(.*)_\d{4}" + re.escape(ending) + "$")
    images: dict[str, list[Path]] = {}
    for path in (dataset_dir / "imagesTr").iterdir():
        match = channel_files.match(path.name)
        if match:
            images.setdefault(match.group(1), []).append(path)
    for case in sorted(split.test_cases):
        if case not in images:
            raise ConversionError(f"no image file {case}_0000{ending} in {dataset_dir / 'imagesTr'} for label {case}.")
        for path in images[case]:
            os.replace(path, dataset_dir / "imagesTs" / path.name)
        os.replace(dataset_dir / "labelsTr" / f"{case}{ending}", dataset_dir / "labelsTs" / f"{case}{ending}")
    info["numTraining"] = len(split.train_cases)
    (dataset_dir / "dataset.json").write_text(json.dumps(info, indent=4))
    (dataset_dir / STRATA_FILE_NAME).write_text(json.dumps(split.to_json(), indent=2))


def split_dataset_folder(
    dataset_dir: Path, seed: int = 0, test_fraction: float = DEFAULT_TEST_FRACTION,
    bounds: Sequence[float] = STRATUM_BOUNDS, groups: Mapping[str, str] | None = None, label: int | None = None,
    show_progress: bool = True,
) -> StratifiedSplit:
    """Compute and apply the size-stratified split inside a dataset folder (no staging: callers stage)."""
    counts = lesion_pixel_counts(dataset_dir, label, show_progress)
    split = make_stratified_split(counts, seed=seed, test_fraction=test_fraction, bounds=bounds, groups=groups)
    apply_split(dataset_dir, split)
    return split


def split_raw_dataset(
    dataset_id: int, raw_dir: str | os.PathLike | None = None, seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION, bounds: Sequence[float] = STRATUM_BOUNDS,
    groups: Mapping[str, str] | None = None, splits_final: str | os.PathLike | None = None,
    overwrite_splits: bool = False, label: int | None = None,
) -> StratifiedSplit:
    """Split an existing raw dataset: test cases to imagesTs/labelsTs, strata file, optional splits_final.json."""
    source = find_dataset_dir(raw_dir, dataset_id)
    if splits_final is not None and Path(splits_final).exists() and not overwrite_splits:
        raise ConversionError(f"{splits_final} already exists; pass --overwrite to replace it.")
    name = source.name.split("_", 1)[1]
    with staged_dataset(source.parent, dataset_id, name, start_from=source) as staging:
        split = split_dataset_folder(staging, seed, test_fraction, bounds, groups, label)
    if splits_final is not None:
        write_splits_final(split.folds, splits_final, overwrite=overwrite_splits)
    return split
