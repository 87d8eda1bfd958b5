"""`s3mamba paper-input` (plans/paper_input.py): the real command on a plans file, read back by nnU-Net itself."""
from __future__ import annotations

import pytest
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunet_cli import run_cli
from plans import write_plans_file

# A U-Net that halves the patch 4 times along the first axis and 5 times along the second: total strides 16 x 32.
ARCHITECTURE = {"network_class_name": "PlainConvUNet", "_kw_requires_import": [],
                "arch_kwargs": {"strides": [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2], [1, 2]]}}
TWO_D = {"2d": {"data_identifier": "nnUNetPlans_2d", "batch_size": 7, "patch_size": [64, 96],
                "architecture": ARCHITECTURE},
         "2d_small": {"inherits_from": "2d", "patch_size": [32, 32]}}


@pytest.mark.slow
def test_paper_configuration_is_read_by_nnunet_as_the_base_at_256_with_batch_16(nnunet_env):
    plans_file = write_plans_file(nnunet_env, TWO_D)
    result = run_cli(["s3mamba", "paper-input", "901"], nnunet_env)
    assert "nnUNetv2_train 901 2d_paper FOLD -tr S3MambaTrainer" in result.stdout
    run_cli(["s3mamba", "paper-input", "901"], nnunet_env)  # again: refreshes, adds nothing
    run_cli(["s3mamba", "paper-input", "Dataset901_Tiny", "-c", "2d_small", "--patch", "48", "64", "--batch", "3"],
            nnunet_env)

    plans = PlansManager(str(plans_file))
    assert sorted(plans.available_configurations) == ["2d", "2d_paper", "2d_small", "2d_small_paper"]
    for name, batch, patch in (("2d", 7, [64, 96]), ("2d_paper", 16, [256, 256]), ("2d_small_paper", 3, [48, 64])):
        configuration = plans.get_configuration(name)
        assert configuration.batch_size == batch
        assert list(configuration.patch_size) == patch
        assert configuration.data_identifier == "nnUNetPlans_2d"  # the base's preprocessed data is reused
        assert configuration.network_arch_init_kwargs["strides"] == ARCHITECTURE["arch_kwargs"]["strides"]


@pytest.mark.parametrize("args, message", [
    (["901", "--patch", "250", "256"], "downsamples by [16, 32] per axis, so each side must be a multiple of that "
                                       "(e.g. --patch 256 256)"),
    (["901", "--patch", "256", "240"], "(e.g. --patch 256 256)"),
    (["901", "--patch", "256"], "needs 2 positive sizes for configuration '2d' (planned [64, 96]), got [256]"),
    (["901", "--batch", "0"], "--batch must be at least 1"),
    (["901", "-c", "3d_fullres"], "has no configuration '3d_fullres' (it has 2d, 2d_small, 2d_paper)"),
    (["902"], "not found"),
])
def test_bad_requests_explain_themselves_and_leave_the_plans_untouched(nnunet_env, args, message):
    plans_file = write_plans_file(nnunet_env, {**TWO_D, "2d_paper": {"inherits_from": "2d", "batch_size": 4}})
    before = plans_file.read_bytes()
    result = run_cli(["s3mamba", "paper-input", *args], nnunet_env, expect_ok=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert plans_file.read_bytes() == before


def test_a_paper_configuration_that_is_not_ours_is_never_overwritten(nnunet_env):
    plans_file = write_plans_file(nnunet_env, {**TWO_D, "2d_paper": {"patch_size": [16, 16], "batch_size": 3}})
    before = plans_file.read_bytes()
    result = run_cli(["s3mamba", "paper-input", "901"], nnunet_env, expect_ok=False)
    assert result.returncode == 2 and "does not inherit from '2d'" in result.stderr
    assert plans_file.read_bytes() == before
