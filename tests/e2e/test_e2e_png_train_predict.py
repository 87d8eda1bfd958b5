"""nnU-Net's real CLI on a 1-channel PNG dataset whose sides are not multiples of 32: plan, train, predict, resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nnunet_cli import make_nnunet_env, run_cli
from tiny_datasets import write_png_dataset

DATASET_ID = 901
TRAINER = "S3MambaTrainer_test"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("png")
    env = make_nnunet_env(root)
    dataset = write_png_dataset(Path(env["nnUNet_raw"]), DATASET_ID, n_cases=6, shape=(70, 90), channels=1,
                                test_cases=2)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    results = Path(env["nnUNet_results"]) / dataset.name / f"{TRAINER}__nnUNetPlans__2d"
    return {"env": env, "dataset": dataset, "results": results, "root": root}


def predict(trained: dict, out: Path, *extra: str, expect_ok: bool = True, env: dict | None = None):
    return run_cli(["nnUNetv2_predict", "-i", str(trained["dataset"] / "imagesTs"), "-o", str(out),
                    "-d", str(DATASET_ID), "-c", "2d", "-f", "0", "-tr", TRAINER, "-device", "cpu",
                    "-npp", "1", "-nps", "1", *extra], env or trained["env"], expect_ok=expect_ok)


def test_training_writes_final_checkpoint_and_network_patch_size(trained):
    fold = trained["results"] / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    assert (fold / "validation" / "summary.json").is_file()
    patch_size = json.loads((trained["results"] / "plans.json").read_text())["configurations"]["2d"]["patch_size"]
    assert all(side % 32 == 0 for side in patch_size), patch_size


def test_predict_gives_input_sized_binary_masks(trained):
    out = trained["root"] / "pred_final"
    predict(trained, out)
    for image in sorted((trained["dataset"] / "imagesTs").glob("*.png")):
        prediction = np.asarray(Image.open(out / image.name.replace("_0000", "")))
        assert prediction.shape == np.asarray(Image.open(image)).shape
        assert set(np.unique(prediction)) <= {0, 1}


def test_predict_from_best_checkpoint(trained):
    out = trained["root"] / "pred_best"
    predict(trained, out, "-chk", "checkpoint_best.pth")
    assert len(list(out.glob("case*.png"))) == 2


def test_predict_without_registration_names_the_variable(trained):
    env = dict(trained["env"])
    del env["nnUNet_extTrainer"]
    result = predict(trained, trained["root"] / "pred_unset", expect_ok=False, env=env)
    assert result.returncode != 0
    assert "nnUNet_extTrainer" in result.stderr + result.stdout


def test_continue_resumes_from_latest_checkpoint(trained):
    """Simulate a run interrupted after epoch 1: `--c` must continue at epoch 1 and finish epoch 2 only."""
    fold = trained["results"] / "fold_0"
    checkpoint = torch.load(fold / "checkpoint_final.pth", weights_only=False, map_location="cpu")
    assert checkpoint["current_epoch"] == 2
    checkpoint["current_epoch"] = 1
    torch.save(checkpoint, fold / "checkpoint_latest.pth")
    (fold / "checkpoint_final.pth").unlink()
    result = run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu", "--c"],
                     trained["env"])
    assert "Epoch 1" in result.stdout and "Epoch 0\n" not in result.stdout
    resumed = torch.load(fold / "checkpoint_final.pth", weights_only=False, map_location="cpu")
    assert resumed["current_epoch"] == 2
    assert resumed["trainer_name"] == TRAINER


def test_val_reruns_the_final_validation(trained):
    summary = trained["results"] / "fold_0" / "validation" / "summary.json"
    summary.unlink()
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu", "--val"],
            trained["env"])
    assert "mean" in json.loads(summary.read_text())


def test_scaled_batch_configuration_trains_and_predicts(trained):
    """`s3mamba scale-batch`, then nnU-Net's own training and prediction on the configuration it adds (in one
    process here; on a GPU machine the same configuration is trained with -num_gpus N)."""
    env = trained["env"]
    run_cli(["s3mamba", "scale-batch", str(DATASET_ID), "--gpus", "2"], env)
    planned = json.loads((trained["results"] / "plans.json").read_text())["configurations"]["2d"]["batch_size"]
    result = run_cli(["nnUNetv2_train", str(DATASET_ID), "2d_x2", "0", "-tr", TRAINER, "-device", "cpu"], env)
    assert "Configuration name: 2d_x2" in result.stdout and f"'batch_size': {2 * planned}" in result.stdout
    out = trained["root"] / "pred_x2"
    run_cli(["nnUNetv2_predict", "-i", str(trained["dataset"] / "imagesTs"), "-o", str(out), "-d", str(DATASET_ID),
             "-c", "2d_x2", "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1"], env)
    assert len(list(out.glob("case*.png"))) == 2


def test_paper_input_configuration_trains_and_predicts(trained):
    """`s3mamba paper-input` (a smaller patch and batch here, for the CPU), then nnU-Net's own training and
    prediction on the configuration it adds: crops of that size in training, a sliding window of it in prediction."""
    env = trained["env"]
    run_cli(["s3mamba", "paper-input", str(DATASET_ID), "--patch", "32", "32", "--batch", "3"], env)
    result = run_cli(["nnUNetv2_train", str(DATASET_ID), "2d_paper", "0", "-tr", TRAINER, "-device", "cpu"], env)
    assert "Configuration name: 2d_paper" in result.stdout
    assert "'batch_size': 3" in result.stdout and "'patch_size': [32, 32]" in result.stdout
    out = trained["root"] / "pred_paper"
    run_cli(["nnUNetv2_predict", "-i", str(trained["dataset"] / "imagesTs"), "-o", str(out), "-d", str(DATASET_ID),
             "-c", "2d_paper", "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1"], env)
    for image in sorted((trained["dataset"] / "imagesTs").glob("*.png")):
        prediction = np.asarray(Image.open(out / image.name.replace("_0000", "")))
        assert prediction.shape == np.asarray(Image.open(image)).shape
