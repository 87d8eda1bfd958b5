"""Curriculum history for humans: a JSON file and a PNG of the weight distribution over epochs.

Written into the trainer's output folder next to nnU-Net's `progress.png`; nnU-Net's own logger accepts only
its predefined keys, so the curriculum keeps its own record.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

HISTORY_FILE = "curriculum_history.json"
PLOT_FILE = "curriculum_weights.png"


def write_history(history: Sequence[dict], output_folder: str) -> str:
    """Atomically write the per-epoch entries; returns the file path."""
    path = os.path.join(output_folder, HISTORY_FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(list(history), f, indent=1)
    os.replace(tmp, path)
    return path


def plot_weight_history(history: Sequence[dict], output_folder: str) -> str:
    """Weight quantile bands and lambda (top), mean weight per lesion-size stratum (bottom); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # nnU-Net's progress.png sets a process-wide seaborn style with font_scale 2.5; plot in matplotlib's own.
    with plt.style.context("default"):
        epochs = [h["epoch"] for h in history]
        quantiles = np.asarray([h["weight_quantiles"] for h in history])
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
        top.fill_between(epochs, quantiles[:, 0], quantiles[:, 6], alpha=0.15, color="C0", label="min-max")
        top.fill_between(epochs, quantiles[:, 1], quantiles[:, 5], alpha=0.3, color="C0", label="10-90%")
        top.plot(epochs, quantiles[:, 3], color="C0", label="median weight")
        top.plot(epochs, [h["lambda"] for h in history], color="C3", linestyle="--", label="lambda")
        top.set_ylabel("sample weight v / lambda")
        top.set_ylim(0, 1.05)
        top.legend(loc="best", fontsize=8)
        top.set_title("Regularized curriculum: sample weights over epochs")
        for stratum, color in (("small", "C1"), ("medium", "C2"), ("large", "C4")):
            values = [h["stratum_mean_weight"].get(stratum) for h in history]
            if any(v is not None for v in values):
                bottom.plot(epochs, [float("nan") if v is None else v for v in values], color=color,
                            label=f"{stratum} lesions")
        bottom.plot(epochs, [h["small_share_drawn"] for h in history], color="k", linestyle=":",
                    label="share of small-lesion samples drawn")
        bottom.set_xlabel("epoch")
        bottom.set_ylabel("mean weight / share")
        bottom.legend(loc="best", fontsize=8)
        figure.tight_layout()
        path = os.path.join(output_folder, PLOT_FILE)
        figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
