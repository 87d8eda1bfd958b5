"""`S3MambaTrainer_smoke`: found by nnU-Net's lookup by name, a few iterations, and a batch of at most 2."""
from __future__ import annotations

import torch
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.setup_check import ext_trainer_dir
from plans import make_plans


def test_smoke_budget():
    smoke = trainers.S3MambaTrainer_smoke
    assert (smoke.network_preset, smoke.epochs, smoke.iterations_per_epoch, smoke.val_iterations_per_epoch,
            smoke.max_batch_size) == ("small", 2, 5, 2, 2)
    assert issubclass(smoke, trainers.S3MambaTrainer) and "S3MambaTrainer_smoke" in trainers.__all__


def test_nnunet_finds_the_smoke_trainer_by_name(monkeypatch):
    monkeypatch.setenv("nnUNet_extTrainer", str(ext_trainer_dir()))
    assert recursive_find_trainer_class_by_name("S3MambaTrainer_smoke") is trainers.S3MambaTrainer_smoke


def test_plan_batch_is_capped_to_the_smoke_batch_and_logged(tmp_path, monkeypatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    dataset_json = {"channel_names": {"0": "R"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 2,
                    "file_ending": ".png"}
    batches = {}
    for row in (trainers.S3MambaTrainer_smoke, trainers.S3MambaTrainer):
        plans = make_plans({"2d": {"patch_size": [96, 96], "batch_size": 144, "data_identifier": "nnUNetPlans_2d"}})
        trainer = row(plans, "2d", 0, dataset_json, torch.device("cpu"))
        lines: list[str] = []
        trainer.print_to_log_file = lambda *args, **kwargs: lines.append(" ".join(map(str, args)))
        trainer._set_batch_size_and_oversample()
        batches[row] = trainer.batch_size, lines
    assert batches[trainers.S3MambaTrainer_smoke] == \
        (2, ["S3-Mamba: batch size at most 2 (S3MambaTrainer_smoke) instead of the plan's 144"])
    assert batches[trainers.S3MambaTrainer] == (144, [])
