"""Region labels (nnU-Net's nested, overlapping classes: "whole" = labels 1 and 2, "core" = label 2) on a 2-channel
NIfTI dataset through `2d`, real CLIs: the network trains one sigmoid output per region, validation scores regions,
and `nnUNetv2_predict` turns the region probabilities back into labels in `regions_class_order`."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nnunet_cli import make_nnunet_env, run_cli
from tiny_label_datasets import REGION_LABELS, write_label_dataset

DATASET_ID = 932
TRAINER = "S3MambaTrainer_test"
SHAPE = (3, 32, 30)  # z, y, x
REGIONS_CLASS_ORDER = (1, 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("regions")
    env = make_nnunet_env(root)
    run_env = dict(env, nnUNet_n_proc_DA="0")  # planning refuses 0 (nnU-Net calls torch.set_num_threads with it)
    dataset = write_label_dataset(Path(env["nnUNet_raw"]), DATASET_ID, "Regions", n_cases=5, shape=SHAPE,
                                  labels=REGION_LABELS, regions_class_order=REGIONS_CLASS_ORDER, test_cases=1)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], run_env)
    out = root / "pred"
    run_cli(["nnUNetv2_predict", "-i", str(dataset / "imagesTs"), "-o", str(out), "-d", str(DATASET_ID), "-c", "2d",
             "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_tta",
             "--save_probabilities"], run_env)
    fold = Path(env["nnUNet_results"]) / dataset.name / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
    return {"dataset": dataset, "fold": fold, "pred": out}


def test_validation_scores_each_region(trained):
    summary = json.loads((trained["fold"] / "validation" / "summary.json").read_text())
    assert set(summary["mean"]) == {"(1, 2)", "(2,)"}, summary["mean"].keys()
    for case in summary["metric_per_case"]:
        metrics = case["metrics"]
        assert metrics["(1, 2)"]["n_ref"] >= metrics["(2,)"]["n_ref"] > 0  # the core lies inside the whole lesion


def test_prediction_is_the_regions_probabilities_in_class_order(trained):
    image = nib.load(trained["dataset"] / "imagesTs" / "case005_0000.nii.gz")
    prediction = nib.load(trained["pred"] / "case005.nii.gz")
    assert prediction.shape == image.shape == SHAPE[::-1]
    np.testing.assert_allclose(prediction.affine, image.affine, atol=1e-5)
    segmentation = np.asarray(prediction.dataobj).transpose(2, 1, 0)
    assert set(np.unique(segmentation)) <= {0, *REGIONS_CLASS_ORDER}
    probabilities = np.load(trained["pred"] / "case005.npz")["probabilities"]
    assert probabilities.shape == (len(REGIONS_CLASS_ORDER), *SHAPE)  # one sigmoid per region, no background
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    expected = np.zeros(SHAPE, np.uint8)
    for region, label in enumerate(REGIONS_CLASS_ORDER):  # later regions overwrite earlier ones, as nnU-Net does
        expected[probabilities[region] > 0.5] = label
    np.testing.assert_array_equal(segmentation, expected)
