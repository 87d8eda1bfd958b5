"""nnU-Net's own trainer lookup finds our classes through the shipped shim, and `s3mamba env/doctor` say how."""
from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys

import pytest
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.setup_check import ext_trainer_dir, export_line, is_registered


def test_shim_folder_holds_only_the_shim_and_reexports_every_trainer():
    assert sorted(p.name for p in ext_trainer_dir().iterdir() if p.suffix == ".py") == ["s3mamba_nnunet_shim.py"]
    spec = importlib.util.spec_from_file_location("shim_under_test", ext_trainer_dir() / "s3mamba_nnunet_shim.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    for name in trainers.__all__:
        assert getattr(shim, name) is getattr(trainers, name)


@pytest.mark.parametrize("name", ["S3MambaTrainer", "S3MambaTrainer_baseline", "S3MambaTrainer_TCMA_CL_50epochs",
                                  "nnUNetTrainer_CL", "nnUNetTrainer_15epochs", "S3MambaTrainer_15epochs"])
def test_nnunet_lookup_returns_the_installed_class(monkeypatch, name):
    monkeypatch.setenv("nnUNet_extTrainer", str(ext_trainer_dir()))
    found = recursive_find_trainer_class_by_name(name)
    assert found is getattr(trainers, name)
    assert found.__module__.startswith("nnunetv2_s3mamba.trainers")
    assert pickle.loads(pickle.dumps(found)) is found  # what spawn/forkserver data-loader workers need


def test_lookup_fails_without_registration(monkeypatch):
    monkeypatch.delenv("nnUNet_extTrainer", raising=False)
    with pytest.raises(RuntimeError, match="nnUNet_extTrainer"):
        recursive_find_trainer_class_by_name("S3MambaTrainer")


def test_export_line_prepends_once_and_keeps_other_folders():
    other = os.pathsep.join(["/opt/site_trainers", "/srv/more"])
    line = export_line(other)
    value = line.split("=", 1)[1].strip("'")
    assert value.split(os.pathsep) == [str(ext_trainer_dir()), "/opt/site_trainers", "/srv/more"]
    assert export_line(value) == line
    assert is_registered(value) and not is_registered(other)


def _s3mamba(args, env):
    return subprocess.run([sys.executable, "-m", "nnunetv2_s3mamba.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_doctor_passes_when_registered_and_explains_the_fix_when_not():
    env = {k: v for k, v in os.environ.items() if k != "nnUNet_extTrainer"}
    env["S3MAMBA_AUTO_REGISTER"] = "0"  # the startup hook would register our folder (test_setup_startup_hook.py)
    failing = _s3mamba(["doctor"], env)
    assert failing.returncode == 1
    assert 'eval "$(s3mamba env)"' in failing.stdout
    assert "[WARN] automatic registration at Python startup: inactive" in failing.stdout
    env["nnUNet_extTrainer"] = str(ext_trainer_dir())
    passing = _s3mamba(["doctor"], env)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "[OK  ] nnU-Net finds S3MambaTrainer: nnunetv2_s3mamba.trainers.variants.S3MambaTrainer" in passing.stdout
    # The CPU kernel's status is what CPU prediction runs, not "not built yet" after loading it from the cache.
    assert "not built yet" not in passing.stdout
    assert "cpu_inference_kernel=compiled for" in passing.stdout or "build failed" in passing.stdout
