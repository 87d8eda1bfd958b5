"""Tiny 2-channel NIfTI datasets for the label layouts nnU-Net supports beyond one foreground class: several classes,
regions (nested labels trained as overlapping sigmoid outputs) and an ignore label (unannotated pixels).

Every slice holds a disc (label 1) whose inner half is label 2; both channels show it with different contrast.
Volumes carry a flipped and shifted affine, so that a prediction that loses geometry shows up.
"""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

CHANNELS = {0: "T2", 1: "ADC"}
# x flipped, origin shifted, anisotropic spacing: what a real MRI header looks like, not the identity
AFFINE = np.array([[-0.8, 0.0, 0.0, 40.0],
                   [0.0, 0.7, 0.0, -25.0],
                   [0.0, 0.0, 3.0, 12.0],
                   [0.0, 0.0, 0.0, 1.0]])
REGION_LABELS = {"background": 0, "whole": [1, 2], "core": [2]}  # nnU-Net's region syntax; order below
IGNORE_LABELS = {"background": 0, "lesion": 1, "core": 2, "ignore": 3}  # nnU-Net: the name "ignore", highest value


def _slice(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    radius = rng.uniform(min(shape) / 6, min(shape) / 3)
    cy, cx = rng.uniform(radius, shape[0] - radius), rng.uniform(radius, shape[1] - radius)
    distance = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    labels = (distance <= radius).astype(np.uint8) + (distance <= radius / 2)
    t2 = rng.normal(60, 10, shape) + 70 * labels
    adc = rng.normal(200, 10, shape) - 60 * (labels == 1) - 140 * (labels == 2)
    return np.stack([t2, adc]).astype(np.float32), labels.astype(np.uint8)


def write_label_dataset(raw: Path, dataset_id: int, name: str, n_cases: int, shape: tuple[int, int, int],
                        labels: dict, regions_class_order: tuple[int, ...] | None = None, test_cases: int = 0,
                        ignored_rows: int = 0, seed: int = 0) -> Path:
    """`Dataset<id>_<name>` with 2-channel volumes (z, y, x) and label maps of values 0/1/2.

    `ignored_rows` > 0 sets the first that many rows of every training slice to `labels["ignore"]` (as if they were
    never annotated); test labels stay complete. Returns the dataset folder.
    """
    rng = np.random.default_rng(seed)
    folder = raw / f"Dataset{dataset_id:03d}_{name}"
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (folder / sub).mkdir(parents=True)
    for index in range(n_cases + test_cases):
        images = np.zeros((len(CHANNELS), *shape), np.float32)
        label_map = np.zeros(shape, np.uint8)
        for z in range(shape[0]):
            images[:, z], label_map[z] = _slice(rng, shape[1:])
        split = "Tr" if index < n_cases else "Ts"
        if ignored_rows and split == "Tr":
            label_map[:, :ignored_rows] = labels["ignore"]
        case = f"case{index:03d}"
        for channel in range(len(CHANNELS)):  # NIfTI stores (x, y, z); nnU-Net's reader transposes back
            nib.save(nib.Nifti1Image(images[channel].transpose(2, 1, 0), AFFINE),
                     folder / f"images{split}" / f"{case}_{channel:04d}.nii.gz")
        nib.save(nib.Nifti1Image(label_map.transpose(2, 1, 0), AFFINE), folder / f"labels{split}" / f"{case}.nii.gz")
    # copies: nnU-Net's helper rewrites the keys and values of the dicts it is given
    generate_dataset_json(str(folder), dict(CHANNELS), dict(labels), n_cases, ".nii.gz",
                          regions_class_order=regions_class_order, dataset_name=folder.name)
    return folder
