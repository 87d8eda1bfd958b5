"""`s3mamba demo` end to end on a test-sized budget, and what it does with an output folder that is already in use."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nnunet_cli import SUPPORT
from nnunetv2_s3mamba.cli import main
from nnunetv2_s3mamba.quickstart import MARKER_FILE, QuickstartError, StepFailed, demo_env, run_demo, run_step

TRAINER = "S3MambaTrainer_test"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real quickstart run: 12 images of 32x32, the test trainer (registered like make_nnunet_env does)."""
    out = tmp_path_factory.mktemp("quickstart") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("nnUNet_extTrainer", str(SUPPORT / "nnunet_ext_test"))
        patch.setenv("PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]))
        patch.setenv("OMP_NUM_THREADS", "2")
        report = run_demo(out, "cpu", TRAINER, n_cases=12, image_size=32)
    return {"out": out, "report": report}


def test_demo_writes_report_with_three_strata_and_pictures(demo):
    out, report = demo["out"], demo["report"]
    assert report == out / "evaluation" / "lesion_size_metrics.md"
    header = report.read_text().splitlines()[0]
    assert "small: 1, medium: 1, large: 2, all: 4" in header  # 30% of each stratum of 12 cases is tested
    assert {"DSC S", "DSC M", "DSC L", "DSC All"} <= {cell.strip() for cell in report.read_text().split("|")}
    assert (out / "evaluation" / "lesion_size_metrics_bars.png").stat().st_size > 5_000
    overlays = sorted((out / "evaluation" / "overlays").glob("overlay_*.png"))
    assert len(overlays) == 4 and all(p.stat().st_size > 2_000 for p in overlays)
    assert len(list((out / "predictions").glob("synth_*.png"))) == 4
    model = out / "nnUNet_results" / "Dataset990_SyntheticLesions" / f"{TRAINER}__nnUNetPlans__2d" / "fold_all"
    assert (model / "checkpoint_final.pth").is_file()
    assert (out / "logs" / "3_train.log").read_text().count("Epoch ") >= 2


def test_rerun_into_a_used_folder_is_refused_and_overwrite_suggested(demo, capsys):
    before = sorted(p.relative_to(demo["out"]) for p in demo["out"].rglob("*"))
    assert main(["demo", "-o", str(demo["out"]), "--trainer", TRAINER]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.relative_to(demo["out"]) for p in demo["out"].rglob("*")) == before


def test_foreign_folder_is_never_deleted_even_with_overwrite(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(QuickstartError, match="not made by the quickstart"):
        run_demo(tmp_path, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    assert not (tmp_path / MARKER_FILE).exists()


def test_failing_step_reports_command_and_output_tail(tmp_path):
    command = [sys.executable, "-c", "print('\\n'.join(f'line {i}' for i in range(100))); raise SystemExit(3)"]
    with pytest.raises(StepFailed) as error:
        run_step(command, dict(os.environ), tmp_path / "step.log")
    message = str(error.value)
    assert "exit code 3" in message and "raise SystemExit(3)" in message
    assert "line 99" in message and "line 50" not in message  # the tail, not the whole output
    assert (tmp_path / "step.log").read_text().count("line ") == 100


def test_env_registers_our_trainers_first_and_keeps_the_users(tmp_path):
    env = demo_env(tmp_path, "cpu", {"nnUNet_extTrainer": "/users/own", "nnUNet_raw": "/users/raw"})
    first, kept = env["nnUNet_extTrainer"].split(os.pathsep)
    assert Path(first).name == "nnunet_ext" and kept == "/users/own"
    assert env["nnUNet_raw"] == str(tmp_path / "nnUNet_raw") and env["nnUNet_compile"] == "f"
