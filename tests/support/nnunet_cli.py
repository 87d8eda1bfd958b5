"""Isolated nnU-Net folders and a runner for nnU-Net's real command-line tools."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nnunetv2_s3mamba.setup_check import ext_trainer_dir

SUPPORT = Path(__file__).resolve().parent
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared/data beside the checkout


def make_nnunet_env(root: Path) -> dict[str, str]:
    """Environment for nnU-Net subprocesses: data folders under `root`, our trainers registered, CPU-sized workers."""
    env = dict(os.environ)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        folder = root / name
        folder.mkdir()
        env[name] = str(folder)
    env["nnUNet_extTrainer"] = os.pathsep.join([str(ext_trainer_dir()), str(SUPPORT / "nnunet_ext_test")])
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")])
    env.update({"nnUNet_n_proc_DA": "1", "nnUNet_def_n_proc": "1", "nnUNet_compile": "f", "OMP_NUM_THREADS": "2",
                "PYTHONUNBUFFERED": "1"})
    return env


def run_cli(args: list[str], env: dict[str, str], expect_ok: bool = True) -> subprocess.CompletedProcess:
    """Run one nnU-Net/s3mamba command; on an unexpected exit code show its output in the assertion."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    if expect_ok and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result
