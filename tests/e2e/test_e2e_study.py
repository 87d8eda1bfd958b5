"""`s3mamba study`: a declared study run end to end through nnU-Net's tools (the CPU smoke study), its summary,
and a rerun that continues instead of training again."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nnunetv2_s3mamba.studies.definitions import STUDIES

STUDY_CLI = [sys.executable, "-m", "nnunetv2_s3mamba.cli", "study"]


def _study(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*STUDY_CLI, *args], capture_output=True, text=True, env=env, timeout=900)


def test_list_names_every_study(nnunet_env):
    result = _study("list", env=nnunet_env)
    assert result.returncode == 0, result.stderr
    for name, study in STUDIES.items():
        assert f"{name}: {study.question}" in result.stdout


def test_unknown_study_or_row_is_refused_before_any_work(tmp_path, nnunet_env):
    result = _study("run", "no-such-study", "-o", str(tmp_path / "a"), env=nnunet_env)
    assert result.returncode == 2 and "s3mamba study list" in result.stdout
    result = _study("run", "smoke", "-o", str(tmp_path / "b"), "--rows", "nnUNetTrainer", env=nnunet_env)
    assert result.returncode == 2 and "not among the rows of smoke" in result.stdout
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_smoke_study_trains_predicts_evaluates_and_continues(tmp_path, nnunet_env):
    out = tmp_path / "study"
    result = _study("run", "smoke", "-o", str(out), "--device", "cpu", "--workers", "1", env=nnunet_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    values = summary["pooled_mIoU_percent"]["S3MambaTrainer_smoke"]
    assert set(values) == {"small", "medium", "large", "all"}
    assert all(len(v) == 1 and v[0] is not None and 0 <= v[0] <= 100 for v in values.values())
    row = out / "run1" / "S3MambaTrainer_smoke"
    test_cases = {p.name for p in (out / "nnUNet_raw").glob("Dataset989_*/labelsTs/*.png")}
    assert test_cases and {p.name for p in (row / "pred").glob("*.png")} == test_cases
    assert "| `S3MambaTrainer_smoke` |" in (out / "summary.md").read_text()
    trained = (row / "train.log").stat().st_mtime
    again = _study("run", "smoke", "-o", str(out), "--device", "cpu", "--workers", "1", env=nnunet_env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert (row / "train.log").stat().st_mtime == trained
