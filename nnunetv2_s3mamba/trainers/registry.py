"""Every trainer name users type after `-tr`, in one table: its group, what it changes, and why in one line.

Names are permanent: nnU-Net stores them in checkpoints and result folders and looks the class up again by name
(`--c`, `--val`, `nnUNetv2_predict`), so rows are added, never renamed or removed. Each class is built from its row
in its group's module (`trainers/variants/`, one module per thing that varies, as nnU-Net's own `variants/`
folders); `s3mamba trainers [PATTERN]` lists the table and the README's trainer table is rendered from it. Plain
data, so that the CLI reads it without importing nnU-Net.

One rule adds names no row spells out: `<row>_<N>epochs` (N in `SCHEDULE_EPOCHS`) for every row of a group whose
`epoch_variants` is set, so that any two rows can be compared under the same budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

VARIANTS_PACKAGE = "nnunetv2_s3mamba.trainers.variants"


@dataclass(frozen=True)
class TrainerGroup:
    """A module of `trainers/variants/` and what its rows vary."""

    module: str
    varies: str
    epoch_variants: bool = False


@dataclass(frozen=True)
class TrainerRow:
    """One trainer: `type(name, bases, changes)` with `description` as its docstring, defined in `group`'s module.

    `bases` name other rows or the hook classes (those that carry code) that the group's module imports.
    """

    group: str
    name: str
    bases: tuple[str, ...]
    changes: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


GROUPS: dict[str, TrainerGroup] = {
    "paper": TrainerGroup(VARIANTS_PACKAGE, "the paper's model itself, which every S3-Mamba row derives from",
                          epoch_variants=True),
    "ablation": TrainerGroup(f"{VARIANTS_PACKAGE}.ablation", "EnCF, TCMA and the curriculum (CL) on or off: the "
                             "paper's Tables 3-4, on a baseline of EnVSS blocks without EnCF, no TCMA, uniform "
                             "sampling", epoch_variants=True),
    "optimizer": TrainerGroup(f"{VARIANTS_PACKAGE}.optimizer", "the optimiser or its learning rate",
                              epoch_variants=True),
    "network": TrainerGroup(f"{VARIANTS_PACKAGE}.network", "the network: where TCMA acts, stochastic depth, the "
                            "preset", epoch_variants=True),
    "training_length": TrainerGroup(f"{VARIANTS_PACKAGE}.training_length", "how long it trains: `<row>_<N>epochs` "
                                    "and the fixed CPU budgets of the quickstart and the pipeline check"),
    "nnunet_controls": TrainerGroup(f"{VARIANTS_PACKAGE}.nnunet_controls", "nnU-Net's own U-Net with one of our "
                                    "changes (curriculum, budget, optimiser): controls for S3-Mamba's rows"),
}

SCHEDULE_EPOCHS: tuple[int, ...] = (1, 2, 5, 10, 15, 20, 30, 50, 100, 500, 1000)

NAMED_ROWS: tuple[TrainerRow, ...] = (
    TrainerRow("paper", "S3MambaTrainer", ("CurriculumMixin", "S3MambaTrainerBase"), {},
               "the paper's model: EnVSS blocks with EnCF, TCMA and the regularized curriculum; AdamW lr 1e-4, "
               "cosine, 250 epochs"),

    TrainerRow("ablation", "S3MambaTrainer_noCL", ("S3MambaTrainer",), {"use_curriculum": False},
               "EnCF and TCMA with uniform sampling (as nnU-Net) instead of the curriculum"),
    TrainerRow("ablation", "S3MambaTrainer_baseline", ("S3MambaTrainer",),
               {"use_encf": False, "use_tcma": False, "use_curriculum": False},
               "the ablation baseline: EnVSS blocks without EnCF, no TCMA, uniform sampling"),
    TrainerRow("ablation", "S3MambaTrainer_EnCF", ("S3MambaTrainer",), {"use_tcma": False, "use_curriculum": False},
               "the baseline with EnCF"),
    TrainerRow("ablation", "S3MambaTrainer_TCMA", ("S3MambaTrainer",), {"use_encf": False, "use_curriculum": False},
               "the baseline with TCMA"),
    TrainerRow("ablation", "S3MambaTrainer_CL", ("S3MambaTrainer",), {"use_encf": False, "use_tcma": False},
               "the baseline with the curriculum"),
    TrainerRow("ablation", "S3MambaTrainer_EnCF_TCMA", ("S3MambaTrainer_noCL",), {},
               "S3MambaTrainer_noCL under its Tables 3-4 name: the baseline with EnCF and TCMA"),
    TrainerRow("ablation", "S3MambaTrainer_EnCF_CL", ("S3MambaTrainer",), {"use_tcma": False},
               "the baseline with EnCF and the curriculum"),
    TrainerRow("ablation", "S3MambaTrainer_TCMA_CL", ("S3MambaTrainer",), {"use_encf": False},
               "the baseline with TCMA and the curriculum"),

    # lr 1e-3 beat the paper's 1e-4 on the quickstart's synthetic set, not on CVC-ClinicDB (docs/RESULTS.md); the
    # rows stay so that the comparison can be rerun.
    TrainerRow("optimizer", "S3MambaTrainer_lr1e3", ("S3MambaTrainer",), {"learning_rate": 1e-3},
               "lr 1e-3 instead of the paper's 1e-4"),
    TrainerRow("optimizer", "S3MambaTrainer_baseline_lr1e3", ("S3MambaTrainer_baseline",), {"learning_rate": 1e-3},
               "the ablation baseline with lr 1e-3"),
    TrainerRow("optimizer", "S3MambaTrainer_nnUNetSGD", ("S3MambaTrainer",), {"use_paper_optimizer": False},
               "nnU-Net's optimiser (SGD, Nesterov momentum 0.99, lr 1e-2, poly) instead of AdamW: a control that, "
               "with nnUNetTrainer_AdamW_15epochs, splits network from optimiser (docs/RESULTS.md)"),

    TrainerRow("network", "S3MambaTrainer_TCMAfullres", ("S3MambaTrainer",),
               {"network_overrides": {"tcma_full_resolution": True}},
               "TCMA also on the full-resolution logits, not only on those at 1/4 and coarser (docs/NETWORK.md)"),
    # VM-UNet's 0.2 is made for long schedules from an ImageNet-initialised encoder; we train from scratch.
    TrainerRow("network", "S3MambaTrainer_noDropPath", ("S3MambaTrainer",),
               {"network_overrides": {"drop_path_rate": 0.0}},
               "stochastic depth off: drop-path rate 0 instead of VM-UNet's 0.2 (docs/RESULTS.md)"),
    TrainerRow("network", "S3MambaTrainer_fast", ("S3MambaTrainer",), {"network_preset": "vmamba-s-fast"},
               "the vmamba-s-fast network (one SSM state per channel, no channel expansion, as VMamba v2): a "
               "deviation from the paper for speed (docs/NETWORK.md)"),

    # 600 iterations are too few for the paper's lr 1e-4; 1e-3 learns the demo's lesions (docs/QUICKSTART.md).
    TrainerRow("training_length", "S3MambaTrainer_demo", ("S3MambaTrainer",),
               {"network_preset": "small", "epochs": 20, "iterations_per_epoch": 30, "val_iterations_per_epoch": 5,
                "learning_rate": 1e-3},
               "the quickstart's CPU budget (`s3mamba demo`, docs/QUICKSTART.md): minutes on a CPU, not a paper "
               "setting"),
    TrainerRow("training_length", "S3MambaTrainer_smoke", ("S3MambaTrainer",),
               {"network_preset": "small", "epochs": 2, "iterations_per_epoch": 5, "val_iterations_per_epoch": 2,
                "max_batch_size": 2, "progress_every_iterations": 1, "progress_every_seconds": 0.0},
               "a pipeline check of your own data on a CPU in minutes, not a model: plans, data loading, curriculum, "
               "validation, checkpoints and nnUNetv2_predict run, with a progress line per iteration"),

    TrainerRow("nnunet_controls", "nnUNetTrainer_CL", ("CurriculumMixin", "DDPEvenBatchMixin", "ScheduledUNetTrainer"),
               {}, "nnU-Net's U-Net with our curriculum: the curriculum's effect without S3-Mamba's network"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_CL_5epochs", ("nnUNetTrainer_CL",), {"epochs": 5},
               "nnUNetTrainer_CL for 5 epochs"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_CL_50epochs", ("nnUNetTrainer_CL",), {"epochs": 50},
               "nnUNetTrainer_CL for 50 epochs"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_CL_100epochs", ("nnUNetTrainer_CL",), {"epochs": 100},
               "nnUNetTrainer_CL for 100 epochs"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_15epochs", ("ScheduledUNetTrainer",), {"epochs": 15},
               "nnU-Net's U-Net for 15 epochs (3,750 iterations), the same-budget rows of docs/RESULTS.md"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_30epochs", ("ScheduledUNetTrainer",), {"epochs": 30},
               "nnU-Net's U-Net for 30 epochs (7,500 iterations), the same-budget rows at the paper's input size"),
    TrainerRow("nnunet_controls", "nnUNetTrainer_AdamW_15epochs", ("PaperOptimizerMixin", "nnUNetTrainer_15epochs"),
               {}, "nnUNetTrainer_15epochs with S3-Mamba's optimiser (AdamW lr 1e-4, cosine, same decay groups): "
               "separates network from optimiser (docs/RESULTS.md)"),
)


def epoch_variant_row(row: TrainerRow, epochs: int) -> TrainerRow:
    """`<row>_<epochs>epochs`: the row trained for `epochs` nnU-Net epochs, nothing else changed."""
    return TrainerRow("training_length", f"{row.name}_{epochs}epochs", (row.name,), {"epochs": epochs},
                      f"{row.name} for {epochs} epochs")


EPOCH_VARIANT_ROWS: tuple[TrainerRow, ...] = tuple(
    epoch_variant_row(row, epochs) for row in NAMED_ROWS if GROUPS[row.group].epoch_variants
    for epochs in SCHEDULE_EPOCHS)

TRAINERS: dict[str, TrainerRow] = {row.name: row for row in NAMED_ROWS + EPOCH_VARIANT_ROWS}
assert len(TRAINERS) == len(NAMED_ROWS) + len(EPOCH_VARIANT_ROWS), "a trainer name appears twice in the registry"


def rows_of_group(group: str) -> list[TrainerRow]:
    """The rows `group`'s module defines, parents before children (table order)."""
    return [row for row in TRAINERS.values() if row.group == group]
