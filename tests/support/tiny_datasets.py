"""Tiny nnU-Net raw datasets written on the fly: discs of different sizes on noise, labels 0/1."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image
from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json


def _disc_case(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    radius = rng.uniform(2, min(shape) / 4)
    cy, cx = rng.uniform(radius, shape[0] - radius), rng.uniform(radius, shape[1] - radius)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2).astype(np.uint8)
    image = rng.normal(60, 15, shape) + 120 * mask
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_png_dataset(raw: Path, dataset_id: int, n_cases: int, shape: tuple[int, int], channels: int,
                      test_cases: int = 0, seed: int = 0) -> Path:
    """PNG dataset with `channels` = 1 (gray), 3 (RGB) or 4 (RGBA) images; returns the dataset folder."""
    rng = np.random.default_rng(seed)
    folder = raw / f"Dataset{dataset_id:03d}_Tiny{channels}ch"
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (folder / sub).mkdir(parents=True)
    for index in range(n_cases + test_cases):
        image, mask = _disc_case(rng, shape)
        pixels = image if channels == 1 else np.stack([image] * channels, axis=-1)
        split = "Tr" if index < n_cases else "Ts"
        Image.fromarray(pixels).save(folder / f"images{split}" / f"case{index:03d}_0000.png")
        Image.fromarray(mask).save(folder / f"labels{split}" / f"case{index:03d}.png")
    names = {1: ("gray",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[channels]
    generate_dataset_json(str(folder), {i: name for i, name in enumerate(names)}, {"background": 0, "lesion": 1},
                          n_cases, ".png", dataset_name=folder.name)
    return folder


def write_nifti_dataset(raw: Path, dataset_id: int, n_cases: int, shape: tuple[int, int, int],
                        test_cases: int = 0, seed: int = 0) -> Path:
    """3D MRI-like volumes (z, y, x) with a lesion on some slices, for the slice-wise `2d` configuration."""
    rng = np.random.default_rng(seed)
    folder = raw / f"Dataset{dataset_id:03d}_TinyMRI"
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (folder / sub).mkdir(parents=True)
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    for index in range(n_cases + test_cases):
        volume = np.zeros(shape, np.float32)
        labels = np.zeros(shape, np.uint8)
        for z in range(shape[0]):
            image, mask = _disc_case(rng, shape[1:])
            keep = z % 2 == 0
            volume[z] = image
            labels[z] = mask * keep
        split = "Tr" if index < n_cases else "Ts"
        # NIfTI stores (x, y, z); nnU-Net's reader transposes back.
        nib.save(nib.Nifti1Image(volume.transpose(2, 1, 0), affine), folder / f"images{split}" / f"mri{index:03d}_0000.nii.gz")
        nib.save(nib.Nifti1Image(labels.transpose(2, 1, 0), affine), folder / f"labels{split}" / f"mri{index:03d}.nii.gz")
    generate_dataset_json(str(folder), {0: "T2"}, {"background": 0, "node": 1}, n_cases, ".nii.gz",
                          dataset_name=folder.name)
    return folder
