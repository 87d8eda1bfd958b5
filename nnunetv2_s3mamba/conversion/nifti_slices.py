"""3D NIfTI volumes -> a 2D slice dataset, and 2D slice predictions -> volumes with the source geometry.

The paper's lymph-node MRI set is trained slice by slice. Every slice becomes its own nnU-Net case
`{case}_z{zzz}` (z = index along the third voxel axis of the NIfTI array), stored as a one-slice NIfTI so that
intensities stay untouched and the slice keeps its position in space (affine shifted by z). `slice_index.json`
in the dataset maps each slice ID back to (case, z) and records each volume's shape and source files, which
`reassemble_slices` uses to rebuild volumes with the affine and header of the source volume.

Label maps keep every class 0..K voxel for voxel in both directions (MSD tasks are mostly multi-class); source
layouts and reading are in nifti_volumes.py. Test volumes keep all slices (predictions must cover whole volumes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.label_files import dataset_labels, foreground, read_label, to_label_dtype
from nnunetv2_s3mamba.conversion.nifti_volumes import SourceCase, find_source_cases, load_nifti_header, read_channels
from nnunetv2_s3mamba.conversion.staging import dataset_folder_name, resolve_raw_dir, staged_dataset, staged_files

INDEX_FILE_NAME = "slice_index.json"
NIFTI_ENDING = ".nii.gz"
SLICE_AXIS = 2


def _label_volume(case: SourceCase, shape: tuple[int, ...], binarize: bool) -> np.ndarray:
    """The case's label map (integers >= 0, else an error naming the file); with `binarize`, label > 0 -> 1."""
    data = read_label(case.label)
    if data.shape != shape:
        raise ConversionError(
            f"label {case.label} has shape {data.shape} but image {case.images[0]} has {shape}; they must match."
        )
    return foreground(data).astype(np.uint8) if binarize else to_label_dtype(data)


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
    label_names: Sequence[str] | None = None, nonfinite: str = "error", overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write every slice of every volume as an nnU-Net 2D case; keep a seeded share of lesion-free training slices.

    Label maps hold classes 0..K, kept as they are and listed in dataset.json by `label_names` (classes 1..K) or
    class_<k>; `binarize` merges every class into one (label > 0 -> 1). NaN/inf image voxels are an error unless
    `nonfinite="zero"` (replaced by 0, with a warning).
    """
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    if not 0 <= keep_empty_fraction <= 1:
        raise ConversionError(f"keep_empty_fraction must be within [0, 1], got {keep_empty_fraction}.")
    cases = find_source_cases(Path(source_dir))
    rng = np.random.default_rng(seed)
    index: dict = {"axis": SLICE_AXIS, "file_ending": NIFTI_ENDING, "cases": {}, "slices": {}}
    n_channels = None
    classes_found: set[int] = set()
    with staged_dataset(raw_dir, dataset_id, name, overwrite) as staging:
        for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
            (staging / sub).mkdir()
        n_train = 0
        for case in tqdm(cases, desc="slicing volumes", disable=not show_progress):
            reference, channels = read_channels(case, nonfinite)
            if n_channels is None:
                n_channels = len(channels)
            elif len(channels) != n_channels:
                raise ConversionError(f"case {case.case} has {len(channels)} channels, earlier cases {n_channels}.")
            shape = channels[0].shape
            labels = _label_volume(case, shape, binarize) if case.label is not None else None
            if labels is not None:
                classes_found.update(np.unique(labels).tolist())
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
        labels_json = dataset_labels(classes_found, label_names, f"the label maps of {source_dir}")
        generate_dataset_json(str(staging), dict(enumerate(names)), labels_json, n_train,
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
    (looked up by file name). Predicted classes are kept as they are; volumes are written only if every case
    succeeds (staged_files).
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
    with staged_files(out_dir) as staging:
        for case, info in tqdm(sorted(todo.items()), desc="reassembling", disable=not show_progress):
            target = out_dir / f"{case}{NIFTI_ENDING}"
            if target.exists() and not overwrite:
                raise ConversionError(f"{target} already exists; pass --overwrite to replace it.")
            source = Path(info["source_images"][0])
            if source_dir is not None:
                source = Path(source_dir) / source.name
            if not source.exists():
                raise ConversionError(f"source volume {source} of case {case} is gone; pass --source-dir to its "
                                      f"folder.")
            reference = load_nifti_header(source)
            slices = {z: _prediction_slice(pred_dir / f"{slice_id}{NIFTI_ENDING}", tuple(info["shape"][:2]))
                      for slice_id, z in info["slices"].items()}
            volume = np.zeros(info["shape"], dtype=np.result_type(np.uint8, *(p.dtype for p in slices.values())))
            for z, data in slices.items():
                volume[:, :, z] = data
            header = reference.header.copy()
            header.set_data_dtype(volume.dtype)
            image = nib.Nifti1Image(volume, reference.affine, header=header)
            image.header.set_slope_inter(1, 0)
            image.to_filename(str(staging / target.name))
            written.append(target)
    return written


def _prediction_slice(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The (X, Y) label map of one slice prediction, classes as predicted (nnU-Net writes X x Y x 1)."""
    data = read_label(path)
    data = data.reshape(shape) if data.size == shape[0] * shape[1] else data
    if data.shape != shape:
        raise ConversionError(f"prediction {path} has shape {data.shape}, expected {shape}.")
    return to_label_dtype(data)
