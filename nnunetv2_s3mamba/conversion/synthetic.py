"""A small synthetic lesion dataset in nnU-Net raw 2D PNG format, for the quickstart and end-to-end tests.

Lesion-like blobs (irregular ellipses with their own texture) on a textured RGB background, with radii spread
log-uniformly from tiny to large so that all three size strata are populated; about a quarter of the images
hold two lesions. The lesion colour differs clearly from the background so that a tiny network learns the task
within a few hundred CPU iterations, while the small blobs stay hard.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.image_io import write_png
from nnunetv2_s3mamba.conversion.staging import dataset_folder_name, resolve_raw_dir, staged_dataset
from nnunetv2_s3mamba.conversion.writer2d import RGB_CHANNELS

TWO_LESION_SHARE = 0.25


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid, bilinearly upsampled (cheap texture without SciPy filters)."""
    grid = rng.random((cells + 1, cells + 1))
    t = np.linspace(0, cells, size, endpoint=False)
    i, f = t.astype(int), t - t.astype(int)
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _blob(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    """Boolean mask of an irregular ellipse (radius modulated by low-order harmonics of the angle)."""
    cy, cx = rng.uniform(radius, size - radius, 2)
    yy, xx = np.mgrid[:size, :size]
    aspect = rng.uniform(0.7, 1.3)
    dy, dx = (yy - cy) * aspect, (xx - cx) / aspect
    angle = np.arctan2(dy, dx)
    wobble = 1 + sum(rng.uniform(-0.12, 0.12) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    return np.hypot(dy, dx) <= radius * wobble


def synthetic_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) uint8 image and (size, size) 0/1 mask of one synthetic case."""
    background = np.stack([0.35 + 0.25 * _smooth_noise(rng, size, 6) for _ in range(3)], axis=-1)
    background[..., 1] += 0.15  # greenish tissue
    background += 0.06 * rng.standard_normal((size, size, 1))
    mask = np.zeros((size, size), dtype=bool)
    n_lesions = 2 if rng.random() < TWO_LESION_SHARE else 1
    min_radius, max_radius = max(1.5, size / 40), size / 4
    for _ in range(n_lesions):
        radius = float(np.exp(rng.uniform(np.log(min_radius), np.log(max_radius))))
        mask |= _blob(rng, size, radius)
    lesion_texture = 0.1 * _smooth_noise(rng, size, 10)[..., None]
    lesion_colour = np.array([0.75, 0.25, 0.2]) + lesion_texture
    image = np.where(mask[..., None], lesion_colour, background)
    image = np.clip(image + 0.03 * rng.standard_normal(image.shape), 0, 1)
    return (image * 255).astype(np.uint8), mask.astype(np.uint8)


def make_synthetic_lesion_dataset(
    out_raw_dir: str | os.PathLike, dataset_id: int, n_cases: int = 60, size: int = 64, seed: int = 0, *,
    name: str = "SyntheticLesions", overwrite: bool = False, show_progress: bool = True,
) -> Path:
    """Write nnUNet_raw/DatasetXXX_SyntheticLesions (imagesTr/labelsTr, RGB PNG) and return its folder."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    if n_cases < 1 or size < 16:
        raise ConversionError(f"need n_cases >= 1 and size >= 16, got n_cases={n_cases}, size={size}.")
    rng = np.random.default_rng(seed)
    folder = dataset_folder_name(dataset_id, name)
    with staged_dataset(out_raw_dir, dataset_id, name, overwrite) as staging:
        (staging / "imagesTr").mkdir()
        (staging / "labelsTr").mkdir()
        for i in tqdm(range(n_cases), desc="synthetic cases", disable=not show_progress):
            image, mask = synthetic_case(rng, size)
            write_png(image, staging / "imagesTr" / f"synth_{i:04d}_0000.png")
            write_png(mask, staging / "labelsTr" / f"synth_{i:04d}.png")
        generate_dataset_json(str(staging), dict(RGB_CHANNELS), {"background": 0, "lesion": 1}, n_cases, ".png",
                              dataset_name=folder, converted_by="nnunetv2_s3mamba (synthetic)",
                              license="synthetic data, no restrictions",
                              description=f"synthetic lesion blobs, size {size}, seed {seed}")
    return resolve_raw_dir(out_raw_dir) / folder
