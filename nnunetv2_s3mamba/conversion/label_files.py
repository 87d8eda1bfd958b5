"""Finding, reading and naming label maps in the file formats nnU-Net datasets use here (PNG and NIfTI).

Shared by the split (lesion pixel counts), the evaluation (predictions and ground truth) and the slice converter,
so all read a label file the same way. A label map holds nnU-Net's class IDs: integers 0 (background), 1, ..., K,
listed in dataset.json as consecutive IDs from 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.nifti_volumes import read_nifti

LABEL_ENDINGS = (".nii.gz", ".nii", ".png")


def case_id(path: Path, ending: str) -> str:
    return path.name[: -len(ending)]


def detect_file_ending(folder: Path) -> str:
    """The one label ending used in `folder` (error if none or several)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConversionError(f"folder {folder} does not exist.")
    found = {e for e in LABEL_ENDINGS for p in folder.iterdir() if p.name.endswith(e) and not p.name.startswith(".")}
    if len(found) != 1:
        raise ConversionError(
            f"{folder} holds {'no' if not found else 'mixed'} label files ({', '.join(sorted(found)) or 'none'}); "
            f"expected only one of {', '.join(LABEL_ENDINGS)}."
        )
    return found.pop()


def list_cases(folder: Path, ending: str) -> dict[str, Path]:
    """Case ID -> file for every `*ending` file in `folder` (hidden files such as macOS `._x` skipped)."""
    return {
        case_id(p, ending): p
        for p in sorted(Path(folder).iterdir())
        if p.name.endswith(ending) and not p.name.startswith(".")
    }


def read_label(path: Path) -> np.ndarray:
    """Label array (integers >= 0) of a PNG (H, W) or NIfTI (X, Y[, Z]) file; singleton axes are kept as stored."""
    path = Path(path)
    if path.name.endswith((".nii.gz", ".nii")):
        array = read_nifti(path)[1]
    else:
        try:
            from PIL import Image

            with Image.open(path) as image:
                array = np.asarray(image)
        except Exception as error:  # every reader failure becomes one actionable message
            raise ConversionError(f"cannot read label file {path}: {error}.") from error
    if path.suffix == ".png" and array.ndim != 2:
        raise ConversionError(f"label file {path} has shape {array.shape}; a single-channel label PNG is expected.")
    if not np.issubdtype(array.dtype, np.integer):
        bad = array[~(np.isfinite(array) & (array == np.round(array)))]
        if bad.size:
            raise ConversionError(
                f"label file {path} holds {bad.size} non-integer value(s) ({_shown(np.unique(bad))}); a label map "
                f"holds class IDs 0, 1, 2, ... Round or threshold it into classes before converting."
            )
    if array.size and array.min() < 0:
        raise ConversionError(
            f"label file {path} holds negative values ({_shown(np.unique(array[array < 0]))}); nnU-Net's class IDs "
            f"are 0 (background), 1, 2, ..."
        )
    return array


def _shown(values: np.ndarray, limit: int = 5) -> str:
    return ", ".join(str(v) for v in values[:limit].tolist()) + (", ..." if values.size > limit else "")


def to_label_dtype(labels: np.ndarray) -> np.ndarray:
    """`labels` as the smallest unsigned integer type that holds every class (uint8 up to 255), values unchanged."""
    return labels.astype(np.min_scalar_type(int(labels.max(initial=0))))


def dataset_labels(classes_found: Iterable[int], names: Sequence[str] | None = None, source: str = "the labels"
                   ) -> dict[str, int]:
    """dataset.json `labels`: "background": 0, then `names` (or class_<k>) for the consecutive IDs 1..K.

    K is the largest class found, or the number of names if larger (classes absent from the data). A class ID
    below K that occurs nowhere is refused unless named: nnU-Net needs consecutive IDs, and such a gap usually
    means a 0/255 mask or a wrong file rather than a class.
    """
    found = sorted({int(c) for c in classes_found} | {0})
    k = max(found[-1], len(names or ()))
    if names is not None and len(names) < found[-1]:
        raise ConversionError(
            f"{len(names)} label name(s) given but {source} hold {found[-1]} classes (IDs 1..{found[-1]}); "
            f"give one name per class, background excluded."
        )
    missing = sorted(set(range(k + 1)) - set(found))
    if missing and names is None:
        raise ConversionError(
            f"{source} hold the values {_shown(np.array(found), 10)}, so classes {_shown(np.array(missing), 10)} "
            f"occur nowhere; nnU-Net needs consecutive class IDs 0..K. If these are binary masks (e.g. 0/255), "
            f"pass --binarize (label > 0 -> 1); if the classes are real, name all {k} with --label-names."
        )
    names = list(names) if names is not None else [f"class_{c}" for c in range(1, k + 1)]
    labels = {"background": 0, **{name: c for c, name in enumerate(names, start=1)}}
    if len(labels) != k + 1:
        raise ConversionError(f"label names must be unique and not 'background'; got {', '.join(names)}.")
    return labels


def foreground(labels: np.ndarray, label: int | None = None) -> np.ndarray:
    """Foreground mask: label > 0 by default, or label == `label` for one class."""
    return labels > 0 if label is None else labels == label
