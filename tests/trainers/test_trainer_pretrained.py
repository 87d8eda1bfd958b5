"""`nnUNetv2_train -tr S3MambaTrainer -pretrained_weights`: a VMamba-S ImageNet file is converted once by
`s3mamba pretrained convert` and then loaded by nnU-Net's own loader; the trainer checks the file first."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from architectures.test_arch_pretrained import vmamba_v0_state_dict
from nnunet_cli import make_nnunet_env, run_cli
from plans import make_plans
from nnunetv2_s3mamba.errors import UserError
from nnunetv2_s3mamba.trainers.s3mamba_trainer import pretrained_weights_argument
from s3mamba_test_trainers import S3MambaTrainer_test
from tiny_datasets import write_png_dataset

DATASET_ID = 931
TRAINER = "S3MambaTrainer_test"
DIMS = S3MambaTrainer_test.network_overrides["dims"]


@pytest.mark.parametrize("argv, expected", [
    (["nnUNetv2_train", "1", "2d", "0", "-pretrained_weights", "w.pth", "-tr", "T"], "w.pth"),
    (["nnUNetv2_train", "1", "2d", "0", "-pretrained_weights=w.pth"], "w.pth"),
    (["nnUNetv2_train", "1", "2d", "0", "-tr", "T"], None),
    (["nnUNetv2_train", "1", "2d", "0", "-pretrained_weights", "w.pth", "--val"], None),  # nnU-Net ignores it
])
def test_pretrained_weights_argument(argv, expected):
    assert pretrained_weights_argument(argv) == expected


def test_trainer_refuses_a_vmamba_file_with_its_own_convert_command(tmp_path, monkeypatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    vmamba = tmp_path / "vmamba_small_e238_ema.pth"
    torch.save({"model": vmamba_v0_state_dict(dim=DIMS[0], n_state=16)}, vmamba)
    dataset_json = {"channel_names": {"0": "R", "1": "G", "2": "B"}, "labels": {"background": 0, "lesion": 1},
                    "numTraining": 2, "file_ending": ".png"}
    plans = make_plans({"2d": {"patch_size": [64, 64], "batch_size": 2, "data_identifier": "nnUNetPlans_2d"}})
    trainer = S3MambaTrainer_test(plans, "2d", 0, dataset_json, torch.device("cpu"))
    trainer.network = trainer.build_network_architecture(trainer.plans_manager, trainer.configuration_manager, 3, 2)
    with pytest.raises(UserError) as error:
        trainer.check_pretrained_weights_argument(str(vmamba))
    assert ("s3mamba pretrained convert vmamba_small_e238_ema.pth -d Dataset1_X -c 2d -tr S3MambaTrainer_test "
            "-o s3mamba_init.pth") in str(error.value)
    monkeypatch.setattr("sys.argv", ["nnUNetv2_train", "1", "2d", "0", "-pretrained_weights", str(vmamba)])
    with pytest.raises(UserError, match="looks like a VMamba"):
        trainer.check_pretrained_weights_argument()  # the path from nnUNetv2_train's command line
    monkeypatch.setattr("sys.argv", ["nnUNetv2_train", "1", "2d", "0"])
    trainer.check_pretrained_weights_argument()  # no -pretrained_weights: nothing to check


@pytest.mark.e2e
def test_vmamba_start_through_nnunets_cli(tmp_path):
    env = make_nnunet_env(tmp_path)
    dataset = write_png_dataset(Path(env["nnUNet_raw"]), DATASET_ID, n_cases=5, shape=(64, 64), channels=3)
    run_cli(["nnUNetv2_plan_and_preprocess", "-d", str(DATASET_ID), "-c", "2d", "-np", "1", "-npfp", "1"], env)
    source = vmamba_v0_state_dict(dim=DIMS[0], n_state=16)
    vmamba = tmp_path / "vmamba_small_e238_ema.pth"
    torch.save({"model": source, "epoch": 238}, vmamba)
    train = ["nnUNetv2_train", str(DATASET_ID), "2d", "0", "-tr", TRAINER, "-device", "cpu", "-pretrained_weights"]

    refused = run_cli(train + [str(vmamba)], env, expect_ok=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "looks like a VMamba (ImageNet) checkpoint" in output, output[-3000:]
    assert f"s3mamba pretrained convert vmamba_small_e238_ema.pth -d {dataset.name} -c 2d -tr {TRAINER}" in output

    init = tmp_path / "s3mamba_init.pth"
    converted = run_cli(["s3mamba", "pretrained", "convert", str(vmamba), "-d", str(DATASET_ID), "-tr", TRAINER,
                         "-o", str(init)], env)
    assert "3 input channel(s), 2 outputs" in converted.stdout and f"-pretrained_weights {init}" in converted.stdout

    trained = run_cli(train + [str(init)], env)
    assert "Loading pretrained weights from file" in trained.stdout
    fold = Path(env["nnUNet_results"]) / dataset.name / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
    log = "\n".join(path.read_text() for path in fold.glob("training_log_*.txt"))
    assert "tensors from VMamba checkpoint" in log
    final = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)["network_weights"]
    # 2 epochs x 2 AdamW steps at lr 1e-4 move a weight by well under 1e-2; the ImageNet values are N(0, 1)
    for ours, theirs in (("patch_embed.proj.weight", "patch_embed.proj.weight"),
                         ("layers.3.blocks.1.self_attention.x_proj_weight",
                          "layers.3.blocks.1.self_attention.x_proj_weight"),
                         ("layers_up.3.blocks.0.self_attention.in_proj.weight",
                          "layers.0.blocks.0.self_attention.in_proj.weight")):
        torch.testing.assert_close(final[ours], source[theirs], atol=1e-2, rtol=0)
