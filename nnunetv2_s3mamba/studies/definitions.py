"""The studies of docs/RESULTS.md and the issues that asked for them, one declaration each.

A study answers one question under one budget: every row trains with the same plan, split and number of
iterations (the `_<N>epochs` of its trainer name), and `runs` repeats the whole set so that a difference can be
read against the run-to-run spread. Data come from `--data` (default ../shared/data) through our converters, so a
study reruns anywhere the data are.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatasetSource", "Study", "STUDIES"]


@dataclass(frozen=True)
class DatasetSource:
    """How the study's raw dataset is made: `s3mamba convert KIND -i DATA/FOLDER -d ID --split --seed SEED ARGS`
    (kind "synthetic": the quickstart's generated lesions, no input folder)."""

    kind: str
    folder: str
    dataset_id: int
    convert_args: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class Study:
    name: str
    question: str
    dataset: DatasetSource
    rows: tuple[str, ...]
    runs: int = 2
    configuration: str = "2d"
    fold: str = "0"
    issue: str = ""


CVC = DatasetSource("cvc", "CVC-ClinicDB", 501)
CVC_SEQUENCES = DatasetSource("cvc", "CVC-ClinicDB", 502, ("--keep-sequences",))
ISIC = DatasetSource("isic", "ISIC2018-256x192", 504)

STUDIES = {study.name: study for study in (
    Study("cvc-per-frame-15epochs", "S3-Mamba against nnU-Net's U-Net on the paper's per-frame split",
          CVC, ("nnUNetTrainer_15epochs", "S3MambaTrainer_15epochs"), issue="8"),
    Study("cvc-sequences-15epochs", "the same on unseen video sequences (each sequence on one side of the split)",
          CVC_SEQUENCES, ("nnUNetTrainer_15epochs", "S3MambaTrainer_15epochs", "S3MambaTrainer_baseline_15epochs",
                          "nnUNetTrainer_AdamW_15epochs"), issue="8"),
    Study("cvc-fast-preset-15epochs", "does the fast preset keep the paper preset's accuracy (both splits: run "
          "this and its -sequences twin)", CVC, ("S3MambaTrainer_15epochs", "S3MambaTrainer_fast_15epochs"),
          issue="27"),
    Study("cvc-sequences-fast-preset-15epochs", "the fast preset against the paper preset on unseen sequences",
          CVC_SEQUENCES, ("S3MambaTrainer_15epochs", "S3MambaTrainer_fast_15epochs"), issue="27"),
    Study("isic2018-15epochs", "the paper's ISIC2018 table at equal iterations: U-Net, S3-Mamba, the fast preset",
          ISIC, ("nnUNetTrainer_15epochs", "S3MambaTrainer_15epochs", "S3MambaTrainer_fast_15epochs"), issue="27"),
    Study("isic2018-ablation-15epochs", "the paper's Table 4 on ISIC2018: baseline, +EnCF, +TCMA, +CL",
          ISIC, ("S3MambaTrainer_baseline_15epochs", "S3MambaTrainer_EnCF_15epochs", "S3MambaTrainer_TCMA_15epochs",
                 "S3MambaTrainer_CL_15epochs"), runs=1, issue="27"),
    Study("smoke", "a check of the study runner itself on a CPU (generated lesions, the smoke trainer)",
          DatasetSource("synthetic", "", 989), ("S3MambaTrainer_smoke",), runs=1, fold="all"),
)}
