"""The quickstart: the whole job, end to end, on an embedded synthetic lesion dataset.

Every nnU-Net step runs through nnU-Net's own console tools in a subprocess, exactly as a user would type them,
so the demo proves the installation (trainer registration included) rather than a shortcut around it. All data
and results live under one output folder with its own nnUNet_raw/_preprocessed/_results, so the demo never
touches a user's nnU-Net folders.

A second run into the same folder is refused unless `overwrite` is given: a half-finished earlier run cannot be
told apart from a finished one reliably, and silently reusing its pieces would report numbers of a different run.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

from nnunetv2_s3mamba.conversion.raw_dataset import split_raw_dataset
from nnunetv2_s3mamba.conversion.split import STRATA_FILE_NAME
from nnunetv2_s3mamba.conversion.synthetic import make_synthetic_lesion_dataset
from nnunetv2_s3mamba.evaluation.pictures import plot_overlays, plot_stratum_bars
from nnunetv2_s3mamba.evaluation.report import REPORT_STEM, evaluate_folder
from nnunetv2_s3mamba.quickstart.steps import run_step
from nnunetv2_s3mamba.setup_check.discovery import EXT_TRAINER_VARIABLE, with_our_folder

DEMO_DATASET_ID = 990
DEMO_TRAINER = "S3MambaTrainer_demo"
DEMO_CASES = 80
DEMO_IMAGE_SIZE = 64
DEMO_OVERLAYS = 6
MARKER_FILE = ".s3mamba-quickstart"
STEPS = 5
TRAIN_ECHO = r": (Epoch \d+$|Pseudo dice|Mean Validation Dice)"


class QuickstartError(RuntimeError):
    """The demo cannot start as asked (e.g. the output folder is in use); the message says what to do."""


def demo_env(out_dir: Path, device: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for nnU-Net's tools: data folders under `out_dir`, our trainers registered in front of any
    folders the user already lists, no torch.compile, and worker counts sized for a small CPU machine."""
    env = dict(os.environ if base is None else base)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env[name] = str(out_dir / name)
    env[EXT_TRAINER_VARIABLE] = with_our_folder(env.get(EXT_TRAINER_VARIABLE))
    env["nnUNet_compile"] = "f"
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cpu":
        env["nnUNet_n_proc_DA"] = "2"
        env["nnUNet_def_n_proc"] = "2"
    return env


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Create `out_dir`, or clear an earlier quickstart folder if `overwrite`; never delete anything else."""
    if out_dir.exists() and not out_dir.is_dir():
        raise QuickstartError(f"{out_dir} exists and is not a folder; choose another output folder with -o.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MARKER_FILE).is_file():
            raise QuickstartError(f"{out_dir} is not empty and was not made by the quickstart; it is left untouched. "
                                  "Choose another output folder with -o.")
        if not overwrite:
            raise QuickstartError(f"{out_dir} holds an earlier quickstart run. Pass --overwrite to delete it and start "
                                  "again, or choose another output folder with -o.")
        shutil.rmtree(out_dir)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (out_dir / name).mkdir(parents=True)
    (out_dir / MARKER_FILE).write_text("made by `s3mamba demo`; `s3mamba demo --overwrite` may delete this folder\n")


def _progress(step: int, text: str) -> None:
    print(f"[{step}/{STEPS}] {text}", flush=True)


def run_demo(out_dir: str | os.PathLike = "quickstart_output", device: str = "cpu", trainer: str = DEMO_TRAINER, *,
             n_cases: int = DEMO_CASES, image_size: int = DEMO_IMAGE_SIZE, dataset_id: int = DEMO_DATASET_ID,
             seed: int = 0, overwrite: bool = False) -> Path:
    """Generate, split, plan, train (fold `all`), predict the test split, evaluate per lesion size; return the
    Markdown report. Raises QuickstartError (folder in use) or StepFailed (a console tool failed)."""
    out_dir = Path(out_dir).resolve()
    prepare_out_dir(out_dir, overwrite)
    env = demo_env(out_dir, device)
    logs, evaluation = out_dir / "logs", out_dir / "evaluation"
    did = str(dataset_id)

    _progress(1, f"generating {n_cases} synthetic {image_size}x{image_size} lesion images and the size-stratified "
                 "test split")
    dataset = make_synthetic_lesion_dataset(env["nnUNet_raw"], dataset_id, n_cases, image_size, seed,
                                            show_progress=False)
    split = split_raw_dataset(dataset_id, env["nnUNet_raw"], seed=seed)
    print(f"      {len(split.train_cases)} training / {len(split.test_cases)} test images in {dataset}", flush=True)

    _progress(2, "nnU-Net planning and preprocessing (2d configuration)")
    run_step(["nnUNetv2_plan_and_preprocess", "-d", did, "-c", "2d", "-np", "2", "-npfp", "2",
              "--verify_dataset_integrity"], env, logs / "2_plan_and_preprocess.log")

    _progress(3, f"training {trainer} on all training images ({device}; log: {logs / '3_train.log'})")
    run_step(["nnUNetv2_train", did, "2d", "all", "-tr", trainer, "-device", device], env, logs / "3_train.log",
             echo=TRAIN_ECHO)

    _progress(4, "predicting the test images")
    predictions = out_dir / "predictions"
    run_step(["nnUNetv2_predict", "-i", str(dataset / "imagesTs"), "-o", str(predictions), "-d", did, "-c", "2d",
              "-f", "all", "-tr", trainer, "-device", device, "-npp", "1", "-nps", "1",
              *(["--disable_tta"] if device == "cpu" else [])], env, logs / "4_predict.log")

    _progress(5, "evaluating per lesion-size stratum")
    # min_lesion_size 1: the synthetic masks have no annotation specks, and their smallest lesions are a few pixels.
    report = evaluate_folder(predictions, dataset / "labelsTs", dataset / STRATA_FILE_NAME, evaluation,
                             show_progress=False, min_lesion_size=1)
    bars = plot_stratum_bars(report, evaluation / f"{REPORT_STEM}_bars.png")
    overlays = plot_overlays(predictions, dataset / "labelsTs", dataset / "imagesTs", evaluation / "overlays",
                             n=DEMO_OVERLAYS)
    print("\n" + report.to_markdown(), flush=True)
    model = Path(env["nnUNet_results"]) / dataset.name / f"{trainer}__nnUNetPlans__2d" / "fold_all"
    print(f"report:      {evaluation / f'{REPORT_STEM}.md'} (also .csv, .json)\n"
          f"bar chart:   {bars}\n"
          f"overlays:    {len(overlays)} smallest test lesions in {evaluation / 'overlays'}\n"
          f"model:       {model}\n"
          f"predictions: {predictions}\n"
          f"logs:        {logs}", flush=True)
    return evaluation / f"{REPORT_STEM}.md"
