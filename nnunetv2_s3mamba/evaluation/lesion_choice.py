"""The evaluation's lesion labels: `--lesion-labels` resolved against the dataset.json of the evaluated folders.

nnU-Net keeps dataset.json beside `labelsTr`/`labelsTs` in the raw dataset and copies it into every prediction
folder, so those two places are looked in when no file is given. Without any dataset.json only ids can be chosen
and the classes are the label ids found in the label maps.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from nnunetv2_s3mamba.data.lesion_labels import LesionLabels, resolve_lesion_labels
from nnunetv2_s3mamba.errors import UserError

LESION_LABELS_OPTION = "--lesion-labels"


def find_dataset_json(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike,
                      dataset_json: str | os.PathLike | None = None) -> Path | None:
    """`dataset_json` if given (it must exist), else the raw dataset's beside `gt_dir`, else the prediction
    folder's, else None."""
    if dataset_json is not None:
        if not Path(dataset_json).is_file():
            raise UserError(f"dataset.json {dataset_json} does not exist.")
        return Path(dataset_json)
    for candidate in (Path(gt_dir).parent / "dataset.json", Path(pred_dir) / "dataset.json"):
        if candidate.is_file():
            return candidate
    return None


def evaluation_lesion_labels(spec: str | int | None, gt_dir: str | os.PathLike, pred_dir: str | os.PathLike,
                             dataset_json: str | os.PathLike | None = None) -> LesionLabels:
    """The lesion labels named by `spec` (names or ids, comma-separated; None: all foreground)."""
    path = find_dataset_json(gt_dir, pred_dir, dataset_json)
    labels = None
    if path is not None:
        try:
            labels = json.loads(path.read_text())["labels"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"cannot read the 'labels' of {path}: {error!r}.") from error
    return resolve_lesion_labels(None if spec is None else str(spec), labels, LESION_LABELS_OPTION)
