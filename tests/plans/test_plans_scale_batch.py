"""`s3mamba scale-batch` (plans/scaled_batch.py): the real command on a plans file, read back by nnU-Net itself."""
from __future__ import annotations

import pytest
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunet_cli import run_cli
from plans import write_plans_file as _write_plans


TWO_D = {"2d": {"data_identifier": "nnUNetPlans_2d", "batch_size": 7, "patch_size": [64, 96]},
         "2d_small": {"inherits_from": "2d", "patch_size": [32, 32]}}


@pytest.mark.slow
def test_scaled_configuration_is_read_by_nnunet_as_the_base_with_n_times_the_batch(nnunet_env):
    plans_file = _write_plans(nnunet_env, TWO_D)
    result = run_cli(["s3mamba", "scale-batch", "901", "--gpus", "2"], nnunet_env)
    assert "nnUNetv2_train 901 2d_x2 FOLD -tr S3MambaTrainer -num_gpus 2" in result.stdout
    run_cli(["s3mamba", "scale-batch", "Dataset901_Tiny", "--gpus", "3"], nnunet_env)
    run_cli(["s3mamba", "scale-batch", "901", "--gpus", "2"], nnunet_env)  # again: refreshes, adds nothing
    run_cli(["s3mamba", "scale-batch", "901", "--gpus", "2", "-c", "2d_small"], nnunet_env)

    plans = PlansManager(str(plans_file))
    assert sorted(plans.available_configurations) == ["2d", "2d_small", "2d_small_x2", "2d_x2", "2d_x3"]
    for name, batch, patch in (("2d", 7, [64, 96]), ("2d_x2", 14, [64, 96]), ("2d_x3", 21, [64, 96]),
                               ("2d_small_x2", 14, [32, 32])):
        configuration = plans.get_configuration(name)
        assert configuration.batch_size == batch
        assert list(configuration.patch_size) == patch
        assert configuration.data_identifier == "nnUNetPlans_2d"  # the base's preprocessed data is reused


@pytest.mark.parametrize("args, message", [
    (["901", "--gpus", "1"], "at least 2"),
    (["902", "--gpus", "2"], "not found"),
    (["901", "--gpus", "2", "-c", "3d_fullres"], "has no configuration '3d_fullres' (it has 2d, 2d_small, 2d_x2)"),
    (["901", "--gpus", "2", "-p", "OtherPlans"], "run `nnUNetv2_plan_and_preprocess -d 901` first"),
])
def test_bad_requests_explain_themselves_and_leave_the_plans_untouched(nnunet_env, args, message):
    plans_file = _write_plans(nnunet_env, {**TWO_D, "2d_x2": {"patch_size": [16, 16], "batch_size": 3}})
    before = plans_file.read_bytes()
    result = run_cli(["s3mamba", "scale-batch", *args], nnunet_env, expect_ok=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert plans_file.read_bytes() == before


def test_a_configuration_of_the_same_name_that_is_not_ours_is_never_overwritten(nnunet_env):
    plans_file = _write_plans(nnunet_env, {**TWO_D, "2d_x2": {"patch_size": [16, 16], "batch_size": 3}})
    before = plans_file.read_bytes()
    result = run_cli(["s3mamba", "scale-batch", "901", "--gpus", "2"], nnunet_env, expect_ok=False)
    assert result.returncode == 2 and "does not inherit from '2d'" in result.stderr
    assert plans_file.read_bytes() == before
