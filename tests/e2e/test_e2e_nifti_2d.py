"""The MRI use case: 3D NIfTI volumes trained slice by slice with nnU-Net's `2d` configuration, real CLIs only."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nnunet_cli import make_nnunet_env, run_cli
from tiny_datasets import write_nifti_dataset

DATASET_ID = 902
TRAINER = "S3MambaTrainer_test"
SHAPE = (6, 48, 56)  # z, y, x; write_nifti_dataset puts a lesion on even slices only


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("nifti2d")
    env = make_nnunet_env(root)
    dataset = write_nifti_dataset(Path(env["nnUNet_raw"]), DATASET_ID, n_cases=5, shape=SHAPE, test_cases=1)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    out = root / "pred"
    run_cli(["nnUNetv2_predict", "-i", str(dataset / "imagesTs"), "-o", str(out), "-d", str(DATASET_ID),
             "-c", "2d", "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_tta"],
            env)
    fold = Path(env["nnUNet_results"]) / dataset.name / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
    preprocessed = Path(env["nnUNet_preprocessed"]) / dataset.name
    return {"dataset": dataset, "pred": out, "fold": fold, "preprocessed": preprocessed}


def test_prediction_keeps_volume_shape_affine_and_binary_labels(trained):
    image = nib.load(trained["dataset"] / "imagesTs" / "mri005_0000.nii.gz")
    prediction = nib.load(trained["pred"] / "mri005.nii.gz")
    assert prediction.shape == image.shape == SHAPE[::-1]
    np.testing.assert_allclose(prediction.affine, image.affine, atol=1e-5)
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1}


def test_curriculum_sizes_are_per_slice_with_empty_odd_slices(trained):
    cache = json.loads((trained["fold"] / "curriculum_lesion_sizes.json").read_text())
    splits = json.loads((trained["preprocessed"] / "splits_final.json").read_text())
    assert sorted(cache["cases"]) == sorted(splits[0]["train"])
    for case, entry in cache["cases"].items():
        sizes = entry["sizes"]
        assert entry["shape"][1] == len(sizes) == SHAPE[0], case
        assert all(size == 0 for size in sizes[1::2]), (case, sizes)
        assert all(size > 0 for size in sizes[0::2]), (case, sizes)
        labels = np.asarray(nib.load(trained["dataset"] / "labelsTr" / f"{case}.nii.gz").dataobj).transpose(2, 1, 0)
        # Same z order and roughly the raw pixel count (the 2d configuration may resample in-plane only).
        raw = labels.reshape(SHAPE[0], -1).sum(axis=1)
        np.testing.assert_allclose(sizes, raw, rtol=0.35, atol=3)
