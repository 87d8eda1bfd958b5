"""`S3MambaTrainer_smoke` through nnU-Net's real CLIs on a 2-channel NIfTI dataset: it finishes quickly on the CPU,
logs progress inside the epoch, and a prediction with a channel file missing stops with the files to check."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from nnunet_cli import make_nnunet_env, run_cli
from tiny_datasets import write_nifti_dataset

DATASET_ID = 926
TRAINER = "S3MambaTrainer_smoke"
CHANNELS = {"0": "T2", "1": "ADC"}


def _add_second_channel(dataset: Path) -> None:
    """A second channel file per case (`_0001`, a copy of `_0000`) and its name in dataset.json."""
    for first in sorted(dataset.glob("images*/*_0000.nii.gz")):
        shutil.copy(first, first.with_name(first.name.replace("_0000", "_0001")))
    dataset_json = json.loads((dataset / "dataset.json").read_text())
    dataset_json["channel_names"] = CHANNELS
    (dataset / "dataset.json").write_text(json.dumps(dataset_json))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("smoke")
    env = make_nnunet_env(root)
    dataset = write_nifti_dataset(Path(env["nnUNet_raw"]), DATASET_ID, n_cases=5, shape=(6, 48, 56), test_cases=1)
    _add_second_channel(dataset)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    start = time.monotonic()
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    seconds = time.monotonic() - start
    results = Path(env["nnUNet_results"]) / dataset.name / f"{TRAINER}__nnUNetPlans__2d"
    return {"env": env, "dataset": dataset, "results": results, "root": root, "seconds": seconds}


def predict(trained: dict, images: Path, out: Path, expect_ok: bool = True):
    return run_cli(["nnUNetv2_predict", "-i", str(images), "-o", str(out), "-d", str(DATASET_ID), "-c", "2d",
                    "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_tta"],
                   trained["env"], expect_ok=expect_ok)


def test_smoke_run_is_short_and_logs_progress_inside_the_epoch(trained):
    fold = trained["results"] / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file() and (fold / "validation" / "summary.json").is_file()
    log = "\n".join(path.read_text() for path in fold.glob("training_log_*.txt"))
    for epoch in (0, 1):
        assert all(f"epoch {epoch}: iteration {i}/5, " in log for i in (1, 2, 3, 4)), log[-3000:]
    assert "epoch 0: iteration 5/5" not in log  # the epoch summary follows the last iteration
    assert "RAM available" in log  # the CPU batch fit ran and said so
    assert trained["seconds"] < 300, f"{trained['seconds']:.0f} s on this machine"


def test_smoke_model_predicts(trained):
    out = trained["root"] / "pred"
    predict(trained, trained["dataset"] / "imagesTs", out)
    assert [path.name for path in out.glob("*.nii.gz")] == ["mri005.nii.gz"]


def test_missing_channel_file_stops_prediction_with_channels_and_suffixes(trained):
    images = trained["root"] / "missing_channel"
    images.mkdir()
    shutil.copy(trained["dataset"] / "imagesTs" / "mri005_0000.nii.gz", images)
    result = predict(trained, images, trained["root"] / "pred_missing", expect_ok=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "InputChannelsError" in output and "expected input (B" not in output
    assert "trained on 2 input channel(s) (0: T2, 1: ADC" in output and "this image has 1" in output
    assert "CASE_0000.nii.gz, CASE_0001.nii.gz" in output and "Predicting mri005" in output
