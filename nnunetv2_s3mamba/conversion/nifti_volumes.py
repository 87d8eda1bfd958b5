"""Finding and reading the source volumes of `nifti-slices`: MSD / nnU-Net layouts, damaged files, NaN voxels.

Source layouts: nnU-Net/MSD-converted (`imagesTr/{case}_0000.nii.gz`, one file per channel) or MSD Task
(`imagesTr/{case}.nii.gz`, channels on a 4th axis); labels in `labelsTr/{case}.nii.gz`; optional
`imagesTs`/`labelsTs`.

nibabel reads voxel data lazily, so a truncated `.nii.gz` passes `nib.load` and fails later with a bare EOFError;
every read here loads header and data together so that the error names the file.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_s3mamba.conversion.errors import ConversionError

CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})\.nii(\.gz)?$")
NONFINITE_POLICIES = ("error", "zero")  # what to do with NaN/inf image voxels: refuse, or replace by 0 and warn


@dataclass(frozen=True)
class SourceCase:
    """One source volume: its channel files (or one 4D file), its label file (None for unlabeled test cases)."""

    case: str
    images: tuple[Path, ...]
    label: Path | None
    subset: str  # "train" or "test"


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith((".nii.gz", ".nii")) and not p.name.startswith("."))


def _strip_nifti(name: str) -> str:
    return name[:-7] if name.endswith(".nii.gz") else name[:-4]


def find_source_cases(source_dir: Path) -> list[SourceCase]:
    """Cases of imagesTr (+labelsTr) and imagesTs (+labelsTs if present) in either layout."""
    source_dir = Path(source_dir)
    if not (source_dir / "imagesTr").is_dir():
        raise ConversionError(f"{source_dir} has no imagesTr folder; expected the MSD / nnU-Net raw layout.")
    cases: list[SourceCase] = []
    for images_name, labels_name, subset in (("imagesTr", "labelsTr", "train"), ("imagesTs", "labelsTs", "test")):
        images_dir, labels_dir = source_dir / images_name, source_dir / labels_name
        if not images_dir.is_dir():
            continue
        files = _nifti_files(images_dir)
        if not files and subset == "train":
            raise ConversionError(f"{images_dir} holds no NIfTI files (*.nii.gz / *.nii).")
        grouped: dict[str, list[Path]] = {}
        for path in files:
            match = CHANNEL_FILE.match(path.name)
            grouped.setdefault(match.group("case") if match else _strip_nifti(path.name), []).append(path)
        labels = {_strip_nifti(p.name): p for p in _nifti_files(labels_dir)} if labels_dir.is_dir() else {}
        missing = sorted(set(grouped) - set(labels))
        if subset == "train" and missing:
            raise ConversionError(f"no label in {labels_dir} for image(s) {missing[:10]} of {images_dir}.")
        cases += [SourceCase(c, tuple(sorted(paths)), labels.get(c), subset) for c, paths in sorted(grouped.items())]
    return cases


def unreadable(path: Path, error: Exception) -> ConversionError:
    """The one message for a NIfTI file that nibabel cannot read (damaged, cut short, not NIfTI)."""
    return ConversionError(
        f"cannot read NIfTI file {path}: {error}. The file is damaged or incomplete (e.g. an interrupted download "
        f"or copy); copy it again from the source, or remove this case."
    )


def load_nifti_header(path: Path):
    """The nibabel image of `path` for its header and affine only (voxel data not read)."""
    import nibabel as nib

    try:
        return nib.load(str(path))
    except Exception as error:  # every reader failure becomes one actionable message
        raise unreadable(path, error) from error


def read_nifti(path: Path) -> tuple[object, np.ndarray]:
    """(nibabel image, voxel array) of `path`, the voxel data read completely so a truncated file fails here."""
    image = load_nifti_header(path)
    try:
        return image, np.asanyarray(image.dataobj)
    except Exception as error:  # gzip's EOFError, zlib errors, short reads
        raise unreadable(path, error) from error


def _finite(data: np.ndarray, case: str, path: Path, nonfinite: str) -> np.ndarray:
    """`data`, with NaN/inf refused or (nonfinite='zero') replaced by 0: nnU-Net's normalisation would spread them."""
    if not np.issubdtype(data.dtype, np.floating):
        return data
    bad = ~np.isfinite(data)
    count = int(bad.sum())
    if count == 0:
        return data
    if nonfinite == "error":
        raise ConversionError(
            f"case {case}: image {path} has {count} NaN/inf voxel(s). Fix the volume, or pass --nonfinite zero "
            f"(nonfinite='zero') to replace them by 0."
        )
    warnings.warn(f"case {case}: replaced {count} NaN/inf voxel(s) of image {path} by 0 (--nonfinite zero).",
                  stacklevel=2)
    return np.where(bad, np.zeros((), data.dtype), data)


def read_channels(case: SourceCase, nonfinite: str = "error") -> tuple[object, list[np.ndarray]]:
    """(reference image = the first channel file, one 3D array per channel); a 4D MSD file splits on its 4th axis."""
    if nonfinite not in NONFINITE_POLICIES:
        raise ConversionError(f"nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, got {nonfinite!r}.")
    reference, arrays = None, []
    for path in case.images:
        image, data = read_nifti(path)
        reference = reference if reference is not None else image
        data = _finite(data, case.case, path, nonfinite)
        if data.ndim == 4:
            arrays += [data[..., c] for c in range(data.shape[-1])]
        elif data.ndim == 3:
            arrays.append(data)
        else:
            raise ConversionError(f"{path} has shape {data.shape}; expected a 3D volume or a 4D multi-channel one.")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ConversionError(f"channels of case {case.case} differ in shape {sorted(shapes)}: {list(case.images)}.")
    return reference, arrays
