"""Run a study: prepare its dataset once, then train, predict and evaluate every row in every run, and write one
summary table (pooled mIoU per lesion-size stratum, one value per run).

Every step is one of nnU-Net's console tools (or ours) in a subprocess, as a user would type it, with its own log
under the study folder. Each run trains into a results folder of its own (`run<k>/nnUNet_results`), so runs of the
same trainer never overwrite each other; the raw and preprocessed data are shared. A row whose evaluation exists
is not run again: an interrupted study continues where it stopped.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from nnunetv2_s3mamba.data.strata import STRATA
from nnunetv2_s3mamba.conversion.split import STRATA_FILE_NAME
from nnunetv2_s3mamba.conversion.synthetic import make_synthetic_lesion_dataset
from nnunetv2_s3mamba.conversion.raw_dataset import split_raw_dataset
from nnunetv2_s3mamba.evaluation.report import REPORT_STEM, evaluate_folder
from nnunetv2_s3mamba.quickstart.pipeline import demo_env
from nnunetv2_s3mamba.quickstart.steps import run_step
from nnunetv2_s3mamba.studies.definitions import Study

__all__ = ["run_study", "study_summary", "SUMMARY_STEM"]

SUMMARY_STEM = "summary"
OUR_CLI = (sys.executable, "-m", "nnunetv2_s3mamba.cli")


def _raw_dataset(env: dict, dataset_id: int) -> Path | None:
    found = sorted(Path(env["nnUNet_raw"]).glob(f"Dataset{dataset_id:03d}_*"))
    return found[0] if found else None


def _prepare(study: Study, data_root: Path, env: dict, logs: Path, workers: int) -> Path:
    """The raw dataset with its size-stratified test split, planned and preprocessed (once per study folder)."""
    source = study.dataset
    dataset = _raw_dataset(env, source.dataset_id)
    if dataset is None:
        if source.kind == "synthetic":
            dataset = make_synthetic_lesion_dataset(env["nnUNet_raw"], source.dataset_id, 80, 64, source.seed,
                                                    show_progress=False)
            split_raw_dataset(source.dataset_id, env["nnUNet_raw"], seed=source.seed)
        else:
            run_step([*OUR_CLI, "convert", source.kind, "-i", str(data_root / source.folder), "-d",
                      str(source.dataset_id), "-o", env["nnUNet_raw"], "--split", "--seed", str(source.seed),
                      "--no-progress", *source.convert_args], env, logs / "convert.log")
            dataset = _raw_dataset(env, source.dataset_id)
    preprocessed = Path(env["nnUNet_preprocessed"]) / dataset.name
    if not (preprocessed / "nnUNetPlans.json").is_file():
        run_step(["nnUNetv2_plan_and_preprocess", "-d", str(source.dataset_id), "-c", study.configuration,
                  "-np", str(workers), "-npfp", str(workers), "--verify_dataset_integrity"], env,
                 logs / "plan_and_preprocess.log")
    return dataset


def run_study(study: Study, out_dir: Path, data_root: Path, device: str = "cuda", runs: int | None = None,
              rows: tuple[str, ...] | None = None, workers: int = 8) -> Path:
    """Run `study` into `out_dir` (rows and runs may be narrowed) and return the summary's Markdown file."""
    out_dir = Path(out_dir).resolve()
    env = demo_env(out_dir, device)
    env.pop("nnUNet_compile")                      # the user's setting, else the trainers' default (compiled on CUDA)
    if "nnUNet_compile" in os.environ:
        env["nnUNet_compile"] = os.environ["nnUNet_compile"]
    for name in ("nnUNet_raw", "nnUNet_preprocessed"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    dataset = _prepare(study, data_root, env, out_dir / "logs", workers)
    predict_flags = ["-npp", "1", "-nps", "1", "--disable_tta"] if device == "cpu" else []
    for run in range(1, (runs or study.runs) + 1):
        run_env = {**env, "nnUNet_results": str(out_dir / f"run{run}" / "nnUNet_results")}
        for trainer in rows or study.rows:
            row = out_dir / f"run{run}" / trainer
            if (row / "eval" / f"{REPORT_STEM}.json").is_file():
                continue
            id_args = [str(study.dataset.dataset_id), study.configuration]
            run_step(["nnUNetv2_train", *id_args, study.fold, "-tr", trainer, "-device", device], run_env,
                     row / "train.log")
            run_step(["nnUNetv2_predict", "-i", str(dataset / "imagesTs"), "-o", str(row / "pred"), "-d", id_args[0],
                      "-c", id_args[1], "-f", study.fold, "-tr", trainer, "-device", device, *predict_flags],
                     run_env, row / "predict.log")
            evaluate_folder(row / "pred", dataset / "labelsTs", dataset / STRATA_FILE_NAME, row / "eval",
                            show_progress=False)
    summary = {**study_summary(study, out_dir), "device": _device_name(device)}
    (out_dir / f"{SUMMARY_STEM}.json").write_text(json.dumps(summary, indent=1))
    markdown = out_dir / f"{SUMMARY_STEM}.md"
    markdown.write_text(summary_markdown(summary))
    return markdown


def study_summary(study: Study, out_dir: Path) -> dict:
    """Pooled mIoU (%) per stratum of every evaluated row, one value per run, from the rows' evaluation reports."""
    rows: dict[str, dict[str, list[float]]] = {}
    for report in sorted(Path(out_dir).glob(f"run*/*/eval/{REPORT_STEM}.json")):
        trainer = report.parent.parent.name
        pooled = json.loads(report.read_text())["pixel_metrics"]["pooled"]
        for stratum in (*STRATA, "all"):
            value = pooled.get(stratum, {}).get("mIoU")
            rows.setdefault(trainer, {}).setdefault(stratum, []).append(
                None if value is None else round(100 * value, 2))
    return {"study": study.name, "question": study.question, "dataset_id": study.dataset.dataset_id,
            "configuration": study.configuration, "pooled_mIoU_percent": rows}


def _device_name(device: str) -> str:
    """The card the rows trained on, for the summary (docs name the card of every number)."""
    import torch

    return torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else device


def summary_markdown(summary: dict) -> str:
    """The summary as a table: one row per trainer, one column per stratum, the runs' values separated by ';'."""
    strata = (*STRATA, "all")
    lines = [f"# {summary['study']}: {summary['question']}", "", f"Trained on: {summary.get('device', 'unknown')}", "",
             "| trainer | " + " | ".join(f"mIoU {s}" for s in strata) + " |", "|---" * (len(strata) + 1) + "|"]
    for trainer, values in summary["pooled_mIoU_percent"].items():
        cells = ["; ".join("-" if v is None else f"{v:.2f}" for v in values.get(s, [])) for s in strata]
        lines.append(f"| `{trainer}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
