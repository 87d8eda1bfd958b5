"""After `pip install` (wheel or editable), nnU-Net finds our trainers in a shell that sets nothing.

Each install goes into a fresh virtual environment that sees this one's packages (torch, nnU-Net) through a
path-only .pth file, so nothing is downloaded or rebuilt; the project is installed from a copy of its sources
(no build folder in the checkout). nnU-Net then runs in subprocesses whose environment lacks nnUNet_extTrainer.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from nnunetv2_s3mamba.setup_check import startup_hook
from nnunetv2_s3mamba.setup_check.discovery import EXT_TRAINER_VARIABLE, ext_trainer_dir, with_our_folder_appended

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

SITE_TRAINER = '''
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class SiteTrainer(nnUNetTrainer):
    pass
'''

LOOKUP = '''
import os
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
import nnunetv2_s3mamba.trainers as ours

print("VALUE=" + os.environ["nnUNet_extTrainer"])
assert recursive_find_trainer_class_by_name("S3MambaTrainer") is ours.S3MambaTrainer
print("SITE=" + recursive_find_trainer_class_by_name("SiteTrainer").__module__)
'''


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in (EXT_TRAINER_VARIABLE, startup_hook.AUTO_REGISTER_VARIABLE, "PYTHONPATH")}
    env.update({"nnUNet_raw": str(tmp_path), "nnUNet_preprocessed": str(tmp_path), "nnUNet_results": str(tmp_path)})
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module", params=["wheel", "editable"])
def installed(request, tmp_path_factory) -> dict:
    """A fresh venv with the project installed (`pip install SRC` or `pip install -e SRC`); its python and shim."""
    root = tmp_path_factory.mktemp(request.param)
    source = root / "src"
    source.mkdir()
    shutil.copy(REPO / "setup.py", source)
    shutil.copytree(REPO / "nnunetv2_s3mamba", source / "nnunetv2_s3mamba",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = str(root / "venv" / "bin" / "python")
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              dict(os.environ)).stdout.strip())
    # Sorts before our hook's file, as site-packages' own contents would come first.
    (site_packages / "dependencies_from_the_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    editable = ["-e"] if request.param == "editable" else []
    result = _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                   "--no-build-isolation", *editable, str(source)], dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site_packages / startup_hook.PTH_FILE).read_text() == startup_hook.PTH_SOURCE.read_text()
    package = source if editable else site_packages  # an editable install runs the sources where they are
    return {"python": python, "shim": package / "nnunetv2_s3mamba" / "nnunet_ext", "site_packages": site_packages}


def test_nnunet_train_finds_our_trainer_in_a_clean_shell(installed, tmp_path):
    """`nnUNetv2_train`'s code, with no nnUNet_extTrainer: the lookup succeeds and it stops only at the data."""
    result = _run([installed["python"], "-m", "nnunetv2.run.run_training", "Dataset999_Missing", "2d", "0",
                   "-tr", "S3MambaTrainer", "-device", "cpu"], _clean_env(tmp_path))
    output = result.stdout + result.stderr
    assert "Could not find requested nnunet trainer" not in output
    assert f"Using trainer 'S3MambaTrainer' from: {installed['shim']}" in result.stdout, output
    assert "nnUNetPlans.json" in result.stderr, output  # got past the lookup to reading the (absent) plans


def test_a_users_own_trainer_folder_stays_first_and_intact(installed, tmp_path):
    site = tmp_path / "site_trainers"
    site.mkdir()
    (site / "site_trainers.py").write_text(SITE_TRAINER)
    result = _run([installed["python"], "-c", LOOKUP], _clean_env(tmp_path, nnUNet_extTrainer=str(site)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"VALUE={site}{os.pathsep}{installed['shim']}\n" in result.stdout
    assert "SITE=site_trainers\n" in result.stdout
    searched = [line for line in result.stdout.splitlines() if line.startswith("Searching in: ")]
    assert searched[:2] == [f"Searching in: {site}", f"Searching in: {installed['shim']}"]


def test_doctor_reports_the_hook_active_in_a_clean_shell(installed, tmp_path):
    code = ("from nnunetv2_s3mamba.setup_check.doctor import check_automatic_registration as check; "
            "result = check(); print(result.ok, result.detail)")
    result = _run([installed["python"], "-c", code], _clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    pth = installed["site_packages"] / startup_hook.PTH_FILE
    assert result.stdout == f"True active ({pth}): appended our folder to {EXT_TRAINER_VARIABLE}\n"


def _register_afresh(monkeypatch) -> startup_hook.StartupOutcome:
    monkeypatch.setattr(startup_hook, "startup_outcome", None)  # it runs once per process (at startup)
    return startup_hook.register_at_startup()


def test_hook_appends_only_where_missing_and_can_be_turned_off(monkeypatch):
    ours = str(ext_trainer_dir())
    monkeypatch.delenv(startup_hook.AUTO_REGISTER_VARIABLE, raising=False)
    monkeypatch.delenv(EXT_TRAINER_VARIABLE, raising=False)
    assert _register_afresh(monkeypatch).detail.startswith("appended")
    assert os.environ[EXT_TRAINER_VARIABLE] == ours
    assert startup_hook.register_at_startup().detail.startswith("appended")  # a second run keeps what the first did
    assert _register_afresh(monkeypatch) == (True, f"nothing to add: {EXT_TRAINER_VARIABLE} already lists our folder")
    assert os.environ[EXT_TRAINER_VARIABLE] == ours
    users = os.pathsep.join(["/opt/a", "", "/opt/b"])  # kept as written, empty entry included
    assert with_our_folder_appended(users) == users + os.pathsep + ours
    assert with_our_folder_appended(os.pathsep.join([ours, "/opt/a"])) == os.pathsep.join([ours, "/opt/a"])
    monkeypatch.setenv(EXT_TRAINER_VARIABLE, "/opt/a")
    monkeypatch.setenv(startup_hook.AUTO_REGISTER_VARIABLE, "0")
    assert not _register_afresh(monkeypatch).active
    assert os.environ[EXT_TRAINER_VARIABLE] == "/opt/a"


def test_a_broken_hook_never_breaks_python_startup(tmp_path):
    """The .pth line guards its import: a site dir whose package is gone still starts Python, silently."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(startup_hook.PTH_SOURCE, site_dir)
    code = f"import site, sys; sys.modules['nnunetv2_s3mamba'] = None; site.addsitedir({str(site_dir)!r}); print('up')"
    result = _run([sys.executable, "-c", code], dict(os.environ))
    assert (result.returncode, result.stdout, result.stderr) == (0, "up\n", "")


def test_hook_imports_neither_torch_nor_nnunet():
    code = ("import sys; from nnunetv2_s3mamba.setup_check import startup_hook; startup_hook.register_at_startup(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'nnunetv2', 'numpy')))")
    result = _run([sys.executable, "-c", code], dict(os.environ))
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
