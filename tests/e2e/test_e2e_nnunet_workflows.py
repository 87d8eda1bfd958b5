"""nnU-Net's own workflows after training, with our trainer, through the real CLIs on a 2-channel, 3-class NIfTI
dataset trained slice by slice (`2d`) with sparse labels (an ignore label): ResEnc plans, find_best_configuration,
ensembling of saved probabilities, and a model exported to a zip, installed elsewhere and predicted with
`nnUNetv2_predict_from_modelfolder`.

One module fixture plans both plans (nnUNetPlans and nnU-Net's ResEnc M preset) and trains fold 0 of each with
`--npz` (find_best_configuration ensembles the validation probabilities); every test reads what those commands
left behind. `--c`, `--val` and `-chk` live in test_e2e_png_train_predict.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from nnunet_cli import make_nnunet_env, run_cli
from tiny_label_datasets import IGNORE_LABELS, write_label_dataset

DATASET_ID = 931
TRAINER = "S3MambaTrainer_test"
SHAPE = (3, 32, 30)  # z, y, x
RESENC = "nnUNetResEncUNetMPlans"
PLANS = ("nnUNetPlans", RESENC)
CLASSES = {0, 1, 2}  # what a prediction may hold: background, lesion, core; never the ignore label 3
IGNORED_ROWS = 6
PREDICT_FLAGS = ["-f", "0", "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_tta"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("workflows")
    env = make_nnunet_env(root)
    run_env = dict(env, nnUNet_n_proc_DA="0")  # planning refuses 0 (nnU-Net calls torch.set_num_threads with it)
    dataset = write_label_dataset(Path(env["nnUNet_raw"]), DATASET_ID, "Workflows", n_cases=5, shape=SHAPE,
                                  labels=IGNORE_LABELS, test_cases=1, ignored_rows=IGNORED_ROWS)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    # The ResEnc presets preprocess as nnUNetPlans does (same data identifier): planning is all they need.
    run_cli(["nnUNetv2_plan_experiment", "-d", str(DATASET_ID), "-pl", "nnUNetPlannerResEncM"], env)
    resenc_plans = Path(env["nnUNet_preprocessed"]) / dataset.name / f"{RESENC}.json"
    planned = json.loads(resenc_plans.read_text())
    assert planned["configurations"]["2d"]["data_identifier"] == "nnUNetPlans_2d"
    planned["configurations"]["2d"]["batch_size"] = 2  # a CPU-sized batch (the preset plans 14 here), as users edit it
    resenc_plans.write_text(json.dumps(planned, indent=4))
    for plans in PLANS:
        run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-p", plans, "-device", "cpu",
                 "--npz"], run_env)
    results = Path(env["nnUNet_results"]) / dataset.name
    return {"env": run_env, "dataset": dataset, "results": results, "root": root}


def model_folder(trained: dict, plans: str) -> Path:
    return trained["results"] / f"{TRAINER}__{plans}__2d"


@pytest.fixture(scope="module")
def predictions(trained: dict) -> dict[str, Path]:
    """`nnUNetv2_predict --save_probabilities` of the test case with each plans' model."""
    folders = {}
    for plans in PLANS:
        folders[plans] = trained["root"] / f"pred_{plans}"
        run_cli(["nnUNetv2_predict", "-i", str(trained["dataset"] / "imagesTs"), "-o", str(folders[plans]),
                 "-d", str(DATASET_ID), "-c", "2d", "-tr", TRAINER, "-p", plans, "--save_probabilities",
                 *PREDICT_FLAGS], trained["env"])
    return folders


def load_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(path)
    return np.asarray(image.dataobj), image.affine


def assert_segmentation_of_test_case(path: Path, trained: dict) -> np.ndarray:
    """The prediction has the input's shape and affine and holds only the dataset's classes; returns it."""
    segmentation, affine = load_nifti(path)
    image, image_affine = load_nifti(trained["dataset"] / "imagesTs" / "case005_0000.nii.gz")
    assert segmentation.shape == image.shape == SHAPE[::-1], path
    np.testing.assert_allclose(affine, image_affine, atol=1e-5)
    assert set(np.unique(segmentation)) <= CLASSES, (path, np.unique(segmentation))
    return segmentation


def test_validation_scores_each_class_without_the_ignored_voxels(trained):
    for plans in PLANS:
        validation = model_folder(trained, plans) / "fold_0" / "validation"
        summary = json.loads((validation / "summary.json").read_text())
        assert set(summary["mean"]) == {"1", "2"}, summary["mean"].keys()  # background and ignore are not scored
        for case in summary["metric_per_case"]:
            name = Path(case["reference_file"]).name
            reference, reference_affine = load_nifti(trained["dataset"] / "labelsTr" / name)
            annotated = int((reference != IGNORE_LABELS["ignore"]).sum())
            assert annotated == reference.size - IGNORED_ROWS * SHAPE[0] * SHAPE[2]
            for metrics in case["metrics"].values():
                assert metrics["TP"] + metrics["FP"] + metrics["FN"] + metrics["TN"] == annotated, (plans, metrics)
            segmentation, affine = load_nifti(validation / name)
            assert segmentation.shape == reference.shape and set(np.unique(segmentation)) <= CLASSES
            np.testing.assert_allclose(affine, reference_affine, atol=1e-5)
            probabilities = np.load(validation / name.replace(".nii.gz", ".npz"))["probabilities"]
            assert probabilities.shape == (len(CLASSES), *SHAPE)  # one output per class, none for the ignore label


def test_resenc_plans_train_the_s3mamba_network(trained):
    """The ResEnc preset plans patch, batch and a ResidualEncoderUNet; our trainer keeps its own network (as for
    any plans) and trains it at a patch the network divides."""
    checkpoints = {plans: torch.load(model_folder(trained, plans) / "fold_0" / "checkpoint_final.pth",
                                     map_location="cpu", weights_only=False) for plans in PLANS}
    resenc = checkpoints[RESENC]
    configuration = resenc["init_args"]["plans"]["configurations"]["2d"]
    assert resenc["trainer_name"] == TRAINER and resenc["init_args"]["plans"]["plans_name"] == RESENC
    assert configuration["architecture"]["network_class_name"].endswith("ResidualEncoderUNet")
    assert all(side % 32 == 0 for side in configuration["patch_size"]), configuration["patch_size"]
    assert resenc["network_weights"].keys() == checkpoints["nnUNetPlans"]["network_weights"].keys()
    assert any(key.startswith("patch_embed.") for key in resenc["network_weights"])


def test_find_best_configuration_ranks_both_plans_and_their_ensemble(trained):
    run_cli(["nnUNetv2_find_best_configuration", str(DATASET_ID), "-c", "2d", "-tr", TRAINER, "-p", *PLANS,
             "-f", "0", "-np", "1"], trained["env"])
    information = json.loads((trained["results"] / "inference_information.json").read_text())
    models = {f"{TRAINER}__{plans}__2d" for plans in PLANS}
    assert models < set(information["all_results"]) and len(information["all_results"]) == 3
    assert all(0 <= score <= 1 for score in information["all_results"].values())
    best = information["best_model_or_ensemble"]
    assert {model["trainer"] for model in best["selected_model_or_models"]} == {TRAINER}
    assert {model["plans_identifier"] for model in best["selected_model_or_models"]} <= set(PLANS)
    assert Path(best["postprocessing_file"]).is_file()
    for plans in PLANS:
        assert (model_folder(trained, plans) / "crossval_results_folds_0" / "summary.json").is_file()
    ensemble = trained["results"] / "ensembles" / f"ensemble___{TRAINER}__nnUNetPlans__2d___{TRAINER}__{RESENC}__2d___0"
    assert "mean" in json.loads((ensemble / "summary.json").read_text())
    instructions = (trained["results"] / "inference_instructions.txt").read_text()
    assert f"-tr {TRAINER}" in instructions and "nnUNetv2_apply_postprocessing" in instructions


def test_ensemble_averages_the_saved_probabilities(trained, predictions):
    ensemble = trained["root"] / "ensemble"
    run_cli(["nnUNetv2_ensemble", "-i", *map(str, predictions.values()), "-o", str(ensemble), "-np", "1",
             "--save_npz"], trained["env"])
    probabilities = {plans: np.load(folder / "case005.npz")["probabilities"] for plans, folder in predictions.items()}
    for plans, folder in predictions.items():
        assert probabilities[plans].shape == (len(CLASSES), *SHAPE)
        np.testing.assert_allclose(probabilities[plans].sum(axis=0), 1, atol=1e-4)
        segmentation = assert_segmentation_of_test_case(folder / "case005.nii.gz", trained)
        np.testing.assert_array_equal(segmentation.transpose(2, 1, 0), probabilities[plans].argmax(axis=0))
    mean = (probabilities["nnUNetPlans"] + probabilities[RESENC]) / 2
    np.testing.assert_allclose(np.load(ensemble / "case005.npz")["probabilities"], mean, atol=1e-5)
    segmentation = assert_segmentation_of_test_case(ensemble / "case005.nii.gz", trained)
    np.testing.assert_array_equal(segmentation.transpose(2, 1, 0), mean.argmax(axis=0))


def test_exported_zip_installs_elsewhere_and_predicts_the_same(trained, predictions):
    archive = trained["root"] / "model.zip"
    run_cli(["nnUNetv2_export_model_to_zip", "-d", str(DATASET_ID), "-o", str(archive), "-c", "2d", "-tr", TRAINER,
             "-f", "0"], trained["env"])
    elsewhere = trained["root"] / "elsewhere"
    elsewhere.mkdir()
    other_env = dict(make_nnunet_env(elsewhere), nnUNet_n_proc_DA="0")
    run_cli(["nnUNetv2_install_pretrained_model_from_zip", str(archive)], other_env)
    installed = Path(other_env["nnUNet_results"]) / trained["dataset"].name / f"{TRAINER}__nnUNetPlans__2d"
    assert (installed / "fold_0" / "checkpoint_final.pth").is_file() and (installed / "plans.json").is_file()
    out = elsewhere / "pred"
    run_cli(["nnUNetv2_predict_from_modelfolder", "-i", str(trained["dataset"] / "imagesTs"), "-o", str(out),
             "-m", str(installed), "--save_probabilities", *PREDICT_FLAGS], other_env)
    original = predictions["nnUNetPlans"]
    np.testing.assert_array_equal(assert_segmentation_of_test_case(out / "case005.nii.gz", trained),
                                  load_nifti(original / "case005.nii.gz")[0])
    np.testing.assert_allclose(np.load(out / "case005.npz")["probabilities"],
                               np.load(original / "case005.npz")["probabilities"], atol=1e-6)
