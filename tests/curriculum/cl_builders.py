"""Builders for the curriculum tests: real nnU-Net raw datasets and real preprocessed blosc2 cases."""
from __future__ import annotations

import json
import os

import numpy as np


def disc_image(size: int, radius: float, center: tuple, rng: np.random.Generator) -> tuple:
    """A noisy grey image with one bright disc of `radius` (0 -> no lesion) and its 0/1 mask."""
    yy, xx = np.mgrid[:size, :size]
    mask = ((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius ** 2) if radius > 0 \
        else np.zeros((size, size), bool)
    image = rng.normal(60, 10, (size, size)) + 120 * mask
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def write_raw_png_dataset(raw_root: str, dataset_id: int, radii: list, size: int = 64, seed: int = 0) -> str:
    """nnU-Net raw format (Dataset<ID>_<name>/imagesTr, labelsTr, dataset.json) with one disc per image."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = os.path.join(raw_root, f"Dataset{dataset_id:03d}_CLDiscs")
    os.makedirs(os.path.join(folder, "imagesTr"))
    os.makedirs(os.path.join(folder, "labelsTr"))
    for i, radius in enumerate(radii):
        center = tuple(rng.integers(size // 2 - 8, size // 2 + 8, 2))
        image, mask = disc_image(size, radius, center, rng)
        Image.fromarray(image).save(os.path.join(folder, "imagesTr", f"case{i:03d}_0000.png"))
        Image.fromarray(mask).save(os.path.join(folder, "labelsTr", f"case{i:03d}.png"))
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump({"channel_names": {"0": "grey"}, "labels": {"background": 0, "lesion": 1},
                   "numTraining": len(radii), "file_ending": ".png"}, f)
    return folder


def write_preprocessed_cases(folder: str, segs: dict) -> None:
    """Real nnU-Net preprocessed cases (blosc2 + pkl) from label volumes of shape (Z, H, W)."""
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for case, labels in segs.items():
        seg = labels[None].astype(np.int16)
        data = rng.normal(size=seg.shape).astype(np.float32)
        properties = {"class_locations": DefaultPreprocessor._sample_foreground_locations(seg, [1], seed=1234),
                      "spacing": [1.0, 1.0, 1.0]}
        nnUNetDatasetBlosc2.save_case(data, seg, properties, os.path.join(folder, case),
                                      chunks=(1, 1, *seg.shape[2:]), blocks=(1, 1, *seg.shape[2:]))
