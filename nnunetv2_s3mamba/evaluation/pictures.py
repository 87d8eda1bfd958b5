"""Pictures: overlays like the paper's Fig. 3 and a per-stratum bar chart (matplotlib, Agg backend, PNG).

Overlays draw the ground-truth outline in red and the prediction outline in blue on the input image, with a
zoomed panel on the case's smallest ground-truth lesion; by default the cases with the smallest lesions are
drawn, since they are where the methods differ. NIfTI slices are shown transposed (x to the right).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from nnunetv2_s3mamba.conversion.label_files import detect_file_ending, list_cases, read_label
from nnunetv2_s3mamba.data.lesion_labels import LesionLabels
from nnunetv2_s3mamba.evaluation.detection import components
from nnunetv2_s3mamba.evaluation.metrics import METRICS
from nnunetv2_s3mamba.errors import UserError

GT_COLOUR, PRED_COLOUR = "red", "blue"
ZOOM_MIN_SIZE = 32


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read_image(images_dir: Path, case: str, ending: str) -> np.ndarray:
    path = images_dir / f"{case}_0000{ending}"
    if not path.exists():
        raise UserError(f"no image {path} for case {case}; pass the folder holding '<case>_0000{ending}'.")
    if ending == ".png":
        from PIL import Image

        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    import nibabel as nib

    return np.asanyarray(nib.load(str(path)).dataobj).astype(np.float32)


def _display(array: np.ndarray, z: int | None) -> np.ndarray:
    """2D view: PNG arrays as they are, NIfTI (x, y[, z]) as the transposed slice z."""
    if z is None:
        return array
    return (array[:, :, z] if array.ndim == 3 else array).T


def _normalise(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    low, high = np.percentile(image, (1, 99))
    return np.clip((image - low) / (high - low + 1e-8), 0, 1)


def _smallest_lesion(gt: np.ndarray) -> tuple[slice, ...] | None:
    labels, n = components(gt)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    return ndimage.find_objects(labels)[int(np.argmin(sizes))]


def _zoom_box(box: tuple[slice, ...], shape: tuple[int, int]) -> tuple[slice, slice]:
    out = []
    for s, n in zip(box, shape):
        centre, half = (s.start + s.stop) // 2, max(ZOOM_MIN_SIZE, 2 * (s.stop - s.start)) // 2
        start = int(np.clip(centre - half, 0, max(0, n - 2 * half)))
        out.append(slice(start, min(n, start + 2 * half)))
    return out[0], out[1]


def plot_overlay(image: np.ndarray, gt: np.ndarray, pred: np.ndarray, path: Path, title: str) -> Path:
    """One picture: full view and a zoom on the smallest GT lesion, GT outline red, prediction outline blue."""
    plt = _pyplot()
    box = _smallest_lesion(gt)
    panels = [("full image", (slice(None), slice(None)))]
    if box is not None:
        panels.append(("smallest lesion (zoom)", _zoom_box(box, gt.shape)))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), squeeze=False)
    for ax, (name, (rows, cols)) in zip(axes[0], panels):
        ax.imshow(_normalise(image)[rows, cols], cmap="gray", interpolation="nearest")
        for mask, colour in ((gt, GT_COLOUR), (pred, PRED_COLOUR)):
            if mask[rows, cols].any():
                ax.contour(mask[rows, cols].astype(float), levels=[0.5], colors=colour, linewidths=1.2)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"{title}  (red: ground truth, blue: prediction)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_overlays(
    pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, images_dir: str | os.PathLike,
    out_dir: str | os.PathLike, n: int = 8, cases: list[str] | None = None, lesion: LesionLabels = LesionLabels(),
) -> list[Path]:
    """Overlay PNGs of the `lesion` labels for `cases`, or for the `n` cases with the smallest (non-empty) lesion."""
    gt_dir, pred_dir, images_dir, out_dir = map(Path, (gt_dir, pred_dir, images_dir, out_dir))
    ending = detect_file_ending(gt_dir)
    gt_files, pred_files = list_cases(gt_dir, ending), list_cases(pred_dir, ending)
    gts = {c: lesion.mask(read_label(p)) for c, p in gt_files.items()}
    if cases is None:
        cases = sorted((c for c in gts if gts[c].any()), key=lambda c: (int(gts[c].sum()), c))[:n]
    missing = [c for c in cases if c not in pred_files or c not in gts]
    if missing:
        raise UserError(f"cases {missing[:10]} lack a prediction in {pred_dir} or ground truth in {gt_dir}.")
    written = []
    for case in cases:
        gt, pred = gts[case], lesion.mask(read_label(pred_files[case]))
        image = _read_image(images_dir, case, ending)
        z = None
        if ending != ".png":
            box = _smallest_lesion(gt)
            z = (box[2].start + box[2].stop) // 2 if box is not None and gt.ndim == 3 else 0
        written.append(plot_overlay(_display(image, z), _display(gt, z), _display(pred, z),
                                    out_dir / f"overlay_{case}.png", f"{case}: {int(gt.sum())} GT pixels"))
    return written


def plot_stratum_bars(report, path: str | os.PathLike) -> Path:
    """Grouped bars per stratum: the five metrics pooled (solid) and per-image (hatched), plus hit rate."""
    plt = _pyplot()
    table = report.pixel_table()
    detection = report.detection_by_image_stratum()
    strata = report.strata
    keys = list(METRICS) + ["hit"]
    width = 0.8 / (2 * len(keys))
    fig, ax = plt.subplots(figsize=(2.5 * len(strata) + 3, 4.5))
    colours = plt.get_cmap("tab10").colors
    for k, key in enumerate(keys):
        for a, aggregation in enumerate(("pooled", "per-image")):
            if key == "hit" and aggregation == "per-image":
                continue
            values = [100 * (detection[s]["hit_rate"] if key == "hit" else table[aggregation][s][key]) for s in strata]
            offsets = np.arange(len(strata)) + (2 * k + a - len(keys)) * width
            ax.bar(offsets, np.nan_to_num(values), width, color=colours[k], hatch="//" if a else None,
                   label=f"{key} ({aggregation})" if key != "hit" else "lesion hit rate")
    ax.set_xticks(np.arange(len(strata)), strata)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Metrics per lesion-size stratum (solid: pooled, hatched: mean over images)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
