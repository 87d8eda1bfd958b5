"""Real CVC-ClinicDB frames end to end: convert with the size-stratified split, nnU-Net's integrity check and
planning, S3MambaTrainer (test-sized), prediction of the test frames, and the per-stratum evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from nnunet_cli import SHARED_DATA, make_nnunet_env, run_cli
from nnunetv2_s3mamba.conversion import SplitOptions, convert_cvc_clinicdb
from nnunetv2_s3mamba.conversion.split import STRATA_FILE_NAME

CVC = SHARED_DATA / "CVC-ClinicDB"
DATASET_ID = 613
TRAINER = "S3MambaTrainer_test"


def test_cvc_subset_converts_trains_predicts_and_evaluates(tmp_path):
    assert CVC.is_dir(), f"the CVC-ClinicDB copy is expected at {CVC} (../shared/data beside the checkout)"
    env = make_nnunet_env(tmp_path)
    dataset = convert_cvc_clinicdb(CVC, env["nnUNet_raw"], DATASET_ID, limit=20, split=SplitOptions(seed=0),
                                   show_progress=False)
    test_frames = sorted((dataset / "imagesTs").glob("*.png"))
    assert len(test_frames) == 6 and len(list((dataset / "imagesTr").glob("*.png"))) == 14

    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1",
             "--verify_dataset_integrity"], env)
    run_cli(["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu"], env)
    predictions = tmp_path / "pred"
    run_cli(["nnUNetv2_predict", "-i", str(dataset / "imagesTs"), "-o", str(predictions), "-d", str(DATASET_ID),
             "-c", "2d", "-f", "0", "-tr", TRAINER, "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_tta"], env)
    for frame in test_frames:
        prediction = np.asarray(Image.open(predictions / frame.name.replace("_0000", "")))
        assert prediction.shape == (288, 384) and set(np.unique(prediction)) <= {0, 1}

    report_dir = tmp_path / "eval"
    run_cli(["s3mamba", "evaluate", str(predictions), str(dataset / "labelsTs"), "--strata",
             str(dataset / STRATA_FILE_NAME), "-o", str(report_dir)], env)
    report = json.loads((report_dir / "lesion_size_metrics.json").read_text())
    assert sorted(report["cases"]) == sorted(f.name.replace("_0000.png", "") for f in test_frames)
    strata = json.loads((dataset / STRATA_FILE_NAME).read_text())
    assert {case["stratum"] for case in report["cases"].values()} <= {"small", "medium", "large"}
    assert all(report["cases"][c]["stratum"] == strata["cases"][c]["stratum"] for c in report["cases"])
