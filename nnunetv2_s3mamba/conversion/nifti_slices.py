"""3D NIfTI volumes -> a 2D slice dataset, and 2D slice predictions -> volumes with the source geometry.

The paper's lymph-node MRI set is trained slice by slice. Every slice becomes its own nnU-Net case
`{case}_z{zzz}` (z = index along the third voxel axis of the NIfTI array), stored as a one-slice NIfTI so that
intensities stay untouched and the slice keeps its position in space (affine shifted by z). `slice_index.json`
in the dataset maps each slice ID back to (case, z) and records each volume's shape and source files, which
`reassemble_slices` uses to rebuild volumes with the affine and header of the source volume.

Source layouts: nnU-Net/MSD-converted (`imagesTr/{case}_0000.nii.gz`, one file per channel) or MSD Task
(`imagesTr/{case}.nii.gz`, channels on a 4th axis); labels in `labelsTr/{case}.nii.gz`; optional
`imagesTs`/`labelsTs`. Test volumes keep all slices (predictions must cover whole volumes).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.image_io import binary_mask_from_values
from nnunetv2_s3mamba.conversion.staging import dataset_folder_name, resolve_raw_dir, staged_dataset

INDEX_FILE_NAME = "slice_index.json"
NIFTI_ENDING = ".nii.gz"
SLICE_AXIS = 2
CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})\.nii(\.gz)?$")


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


def _load(path: Path):
    import nibabel as nib

    try:
        return nib.load(str(path))
    except Exception as error:  # every reader failure becomes one actionable message
        raise ConversionError(f"cannot read NIfTI file {path}: {error}.") from error


def _channels(case: SourceCase) -> list[np.ndarray]:
    """One 3D array per channel (a 4D MSD file is split along its 4th axis)."""
    arrays = []
    for path in case.images:
        data = np.asanyarray(_load(path).dataobj)
        if data.ndim == 4:
            arrays += [data[..., c] for c in range(data.shape[-1])]
        elif data.ndim == 3:
            arrays.append(data)
        else:
            raise ConversionError(f"{path} has shape {data.shape}; expected a 3D volume or a 4D multi-channel one.")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ConversionError(f"channels of case {case.case} differ in shape {sorted(shapes)}: {list(case.images)}.")
    return arrays


def _label_volume(case: SourceCase, shape: tuple[int, ...], binarize: bool) -> np.ndarray:
    data = np.asanyarray(_load(case.label).dataobj)
    if data.shape != shape:
        raise ConversionError(
            f"label {case.label} has shape {data.shape} but image {case.images[0]} has {shape}; they must match."
        )
    return binary_mask_from_values(np.rint(data).astype(np.int64), case.label, binarize)


def _slice_image(array2d: np.ndarray, reference, z: int):
    """A one-slice NIfTI at the position of slice z of `reference` (its affine shifted by z voxels)."""
    import nibabel as nib

    affine = reference.affine.copy()
    affine[:3, 3] = reference.affine[:3, :3] @ np.array([0, 0, z]) + reference.affine[:3, 3]
    header = reference.header.copy()
    image = nib.Nifti1Image(np.ascontiguousarray(array2d[:, :, None]), affine, header=header)
    image.set_data_dtype(array2d.dtype)
    return image


def export_nifti_slices(
    source_dir: str | os.PathLike, raw_dir: str | os.PathLike | None, dataset_id: int, name: str, *,
    keep_empty_fraction: float = 1.0, seed: int = 0, binarize: bool = False, channel_names: list[str] | None = None,
    overwrite: bool = False, show_progress: bool = True,
) -> Path:
    """Write every slice of every volume as an nnU-Net 2D case; keep a seeded share of lesion-free training slices.

    Labels must be 0/1 (or 0/255) unless `binarize` (foreground = value > 0 for 0/1-scaled, >= 128 otherwise).
    """
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    if not 0 <= keep_empty_fraction <= 1:
        raise ConversionError(f"keep_empty_fraction must be within [0, 1], got {keep_empty_fraction}.")
    cases = find_source_cases(Path(source_dir))
    rng = np.random.default_rng(seed)
    index: dict = {"axis": SLICE_AXIS, "file_ending": NIFTI_ENDING, "cases": {}, "slices": {}}
    n_channels = None
    with staged_dataset(raw_dir, dataset_id, name, overwrite) as staging:
        for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
            (staging / sub).mkdir()
        n_train = 0
        for case in tqdm(cases, desc="slicing volumes", disable=not show_progress):
            channels = _channels(case)
            if n_channels is None:
                n_channels = len(channels)
            elif len(channels) != n_channels:
                raise ConversionError(f"case {case.case} has {len(channels)} channels, earlier cases {n_channels}.")
            reference = _load(case.images[0])
            shape = channels[0].shape
            labels = _label_volume(case, shape, binarize) if case.label is not None else None
            kept = list(range(shape[SLICE_AXIS]))
            if labels is not None and case.subset == "train":
                empty = [z for z in kept if not labels[:, :, z].any()]
                n_keep = int(np.floor(keep_empty_fraction * len(empty) + 0.5))
                keep_empty = set(rng.choice(empty, size=n_keep, replace=False).tolist()) if empty else set()
                kept = [z for z in kept if z not in set(empty) or z in keep_empty]
            width = max(3, len(str(shape[SLICE_AXIS] - 1)))
            images_dir = staging / ("imagesTr" if case.subset == "train" else "imagesTs")
            labels_dir = staging / ("labelsTr" if case.subset == "train" else "labelsTs")
            slice_ids = {}
            for z in kept:
                slice_id = f"{case.case}_z{z:0{width}d}"
                for c, volume in enumerate(channels):
                    _slice_image(volume[:, :, z], reference, z).to_filename(
                        str(images_dir / f"{slice_id}_{c:04d}{NIFTI_ENDING}"))
                if labels is not None:
                    _slice_image(labels[:, :, z], reference, z).to_filename(str(labels_dir / f"{slice_id}{NIFTI_ENDING}"))
                slice_ids[slice_id] = z
                index["slices"][slice_id] = {"case": case.case, "z": z}
            n_train += len(kept) if case.subset == "train" else 0
            index["cases"][case.case] = {
                "set": case.subset, "shape": list(shape), "source_images": [str(p.resolve()) for p in case.images],
                "source_label": str(case.label.resolve()) if case.label else None,
                "slices": slice_ids, "dropped_empty_slices": sorted(set(range(shape[SLICE_AXIS])) - set(kept)),
            }
        names = channel_names or [f"MRI{c}" if n_channels > 1 else "MRI" for c in range(n_channels)]
        if len(names) != n_channels:
            raise ConversionError(f"{len(names)} channel names given for {n_channels} channels.")
        generate_dataset_json(str(staging), dict(enumerate(names)), {"background": 0, "lesion": 1}, n_train,
                              NIFTI_ENDING, dataset_name=dataset_folder_name(dataset_id, name),
                              converted_by="nnunetv2_s3mamba (export_nifti_slices)",
                              description="2D slices of 3D volumes; see slice_index.json for (case, z)")
        (staging / INDEX_FILE_NAME).write_text(json.dumps(index, indent=1))
    return resolve_raw_dir(raw_dir) / dataset_folder_name(dataset_id, name)


def reassemble_slices(
    pred_dir: str | os.PathLike, index_file: str | os.PathLike, out_dir: str | os.PathLike, *,
    source_dir: str | os.PathLike | None = None, overwrite: bool = False, show_progress: bool = True,
) -> list[Path]:
    """Stack per-slice predictions `{case}_z{zzz}.nii.gz` into `{case}.nii.gz` volumes with the source geometry.

    Cases with no predicted slice are skipped; a case with some but not all exported slices is an error. Slices
    dropped at export (lesion-free, not kept) are background. `source_dir` relocates moved source volumes
    (looked up by file name).
    """
    import nibabel as nib

    index = json.loads(Path(index_file).read_text())
    pred_dir, out_dir = Path(pred_dir), Path(out_dir)
    written = []
    todo = {c: info for c, info in index["cases"].items()
            if any((pred_dir / f"{s}{NIFTI_ENDING}").exists() for s in info["slices"])}
    if not todo:
        raise ConversionError(f"{pred_dir} holds no slice predictions named like the slices in {index_file}.")
    incomplete = {c: [s for s in info["slices"] if not (pred_dir / f"{s}{NIFTI_ENDING}").exists()] for c, info in todo.items()}
    incomplete = {c: m for c, m in incomplete.items() if m}
    if incomplete:
        raise ConversionError(f"missing slice predictions in {pred_dir}: " +
                              "; ".join(f"{c}: {m[:5]}" for c, m in list(incomplete.items())[:10]))
    out_dir.mkdir(parents=True, exist_ok=True)
    for case, info in tqdm(sorted(todo.items()), desc="reassembling", disable=not show_progress):
        target = out_dir / f"{case}{NIFTI_ENDING}"
        if target.exists() and not overwrite:
            raise ConversionError(f"{target} already exists; pass --overwrite to replace it.")
        source = Path(info["source_images"][0])
        if source_dir is not None:
            source = Path(source_dir) / source.name
        if not source.exists():
            raise ConversionError(f"source volume {source} of case {case} is gone; pass --source-dir to its folder.")
        reference = _load(source)
        volume = np.zeros(info["shape"], dtype=np.uint8)
        for slice_id, z in info["slices"].items():
            data = np.asanyarray(_load(pred_dir / f"{slice_id}{NIFTI_ENDING}").dataobj)
            data = data.reshape(data.shape[:2]) if data.size == volume[:, :, z].size else data
            if data.shape != volume.shape[:2]:
                raise ConversionError(f"prediction {slice_id} has shape {data.shape}, expected {volume.shape[:2]}.")
            volume[:, :, z] = data
        header = reference.header.copy()
        header.set_data_dtype(np.uint8)
        image = nib.Nifti1Image(volume, reference.affine, header=header)
        image.header.set_slope_inter(1, 0)
        image.to_filename(str(target))
        written.append(target)
    return written
