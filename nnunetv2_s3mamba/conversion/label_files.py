"""Finding and reading label maps in the file formats nnU-Net datasets use here (PNG and NIfTI).

Shared by the split (lesion pixel counts) and the evaluation (predictions and ground truth), so both read a
label file the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nnunetv2_s3mamba.conversion.errors import ConversionError

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
    """Integer label array of a PNG (H, W) or NIfTI (X, Y[, Z]) file; singleton axes are kept as stored."""
    path = Path(path)
    try:
        if path.name.endswith((".nii.gz", ".nii")):
            import nibabel as nib

            array = np.asanyarray(nib.load(str(path)).dataobj)
        else:
            from PIL import Image

            with Image.open(path) as image:
                array = np.asarray(image)
    except Exception as error:  # every reader failure becomes one actionable message
        raise ConversionError(f"cannot read label file {path}: {error}.") from error
    if path.suffix == ".png" and array.ndim != 2:
        raise ConversionError(f"label file {path} has shape {array.shape}; a single-channel label PNG is expected.")
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.mod(array, 1) == 0):
        raise ConversionError(f"label file {path} holds non-integer values; expected a label map.")
    return array


def foreground(labels: np.ndarray, label: int | None = None) -> np.ndarray:
    """Foreground mask: label > 0 by default, or label == `label` for one class."""
    return labels > 0 if label is None else labels == label
