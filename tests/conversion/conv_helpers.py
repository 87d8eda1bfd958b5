"""Array builders shared by the conversion tests (imported by name: tests/conversion is on sys.path)."""
from __future__ import annotations

import numpy as np


def disk_mask(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


AFFINE = np.array([[0.8, 0, 0, -10], [0, 0.8, 0, 5], [0, 0, 3.0, 20], [0, 0, 0, 1]])


def multiclass_source(root, cases=("lnA", "lnB")) -> dict:
    """MSD-style nnU-Net source folder with float32 images and 0/1/2 label volumes; returns case -> label."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    labels = {}
    for k, case in enumerate(cases):
        label = np.zeros((12, 10, 6), np.uint8)
        label[3:6, 4:7, 1:3] = 1
        label[7:10, 1:4, 2:5] = 2  # slice 2 holds both classes; slices 0 and 5 are empty
        label[0, 0, 3] = 2 - k  # one lone voxel, different per case
        labels[case] = label
        image = rng.normal(100, 20, label.shape).astype(np.float32)
        nib.Nifti1Image(image, AFFINE).to_filename(str(root / "imagesTr" / f"{case}_0000.nii.gz"))
        nib.Nifti1Image(label, AFFINE).to_filename(str(root / "labelsTr" / f"{case}.nii.gz"))
    return labels
