"""Which labels are lesions, for the curriculum's lesion sizes and the evaluation's lesions: chosen by name or id.

Default: every foreground label (label > 0, nnU-Net's ignore label excepted), as before the choice existed. A
dataset whose label maps hold a large non-lesion class (e.g. 'vessel' beside 'node') names its lesion label(s);
otherwise that class decides which slices count as small-lesion samples and which components are lesions to find.

The choice is a comma-separated list of names or ids, resolved against dataset.json `labels` (the curriculum reads
it from `S3MAMBA_LESION_LABELS`, `s3mamba evaluate` from `--lesion-labels`). With nnU-Net region labels
(`"tumour core": [2, 3]`) a name stands for its region: a voxel belongs to it when its stored label is one of the
region's ids, as nnU-Net's own evaluation masks a region; an id stands for that one stored label. The lesion mask
is the union of the chosen labels/regions; per-class tables keep each one apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from nnunetv2_s3mamba.errors import UserError

LESION_LABELS_ENV = "S3MAMBA_LESION_LABELS"
NOT_LESIONS = ("background", "ignore")  # dataset.json keys that never name a lesion


@dataclass(frozen=True)
class LesionClass:
    """One label or region of dataset.json: its name and the stored label ids it covers."""

    name: str
    ids: tuple[int, ...]

    def mask(self, labels: np.ndarray) -> np.ndarray:
        return np.isin(labels, self.ids)


@dataclass(frozen=True)
class LesionLabels:
    """The lesion classes; without classes (no dataset.json known), every label > 0 except `ignore_label`."""

    classes: tuple[LesionClass, ...] = ()
    ignore_label: int | None = None
    chosen: bool = False  # named by the user; else all foreground labels

    @property
    def ids(self) -> tuple[int, ...] | None:
        """Stored label ids that are lesion, or None for every label > 0 (the ignore label excepted)."""
        return tuple(sorted({i for c in self.classes for i in c.ids})) if self.classes else None

    def mask(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        if self.classes:
            return np.isin(labels, self.ids)
        lesion = labels > 0
        if self.ignore_label is not None:
            lesion &= labels != self.ignore_label
        return lesion

    def describe(self) -> str:
        if not self.chosen:
            return "all foreground labels (label > 0" + (f", ignore label {self.ignore_label} excepted)"
                                                         if self.ignore_label is not None else ")")
        return ", ".join(f"{c.name} ({'+'.join(map(str, c.ids))})" for c in self.classes)


def _ids(value) -> tuple[int, ...]:
    return tuple(sorted(int(v) for v in value)) if isinstance(value, (list, tuple)) else (int(value),)


def dataset_lesion_classes(labels: Mapping[str, object]) -> tuple[tuple[LesionClass, ...], int | None]:
    """Every foreground label or region of a dataset.json `labels` dict, and its ignore label (or None)."""
    ignore = labels.get("ignore")
    classes = tuple(LesionClass(name, _ids(value)) for name, value in labels.items() if name not in NOT_LESIONS)
    return classes, None if ignore is None else int(ignore)


def resolve_lesion_labels(spec: str | None, labels: Mapping[str, object] | None,
                          option: str = LESION_LABELS_ENV) -> LesionLabels:
    """`spec` ("node", "1,3", None or "" for all foreground) against dataset.json `labels` (None: ids only).

    `option` names where the spec came from, for the error message.
    """
    classes, ignore = dataset_lesion_classes(labels) if labels is not None else ((), None)
    tokens = [t.strip() for t in (spec or "").split(",") if t.strip()]
    if not tokens:
        return LesionLabels(classes, ignore)
    known = ", ".join(f"{c.name} ({'+'.join(map(str, c.ids))})" for c in classes)
    stored = {i for c in classes for i in c.ids}
    chosen: list[LesionClass] = []
    for token in tokens:
        by_name = [c for c in classes if c.name == token]
        if token.lstrip("-").isdigit():
            k = int(token)
            by_id = [c for c in classes if c.ids == (k,)]
            if by_id:
                found = by_id[0]
            elif k > 0 and k != ignore and (labels is None or k in stored):
                found = LesionClass(f"label_{k}", (k,))
            else:
                raise UserError(f"{option}: {k} is not a lesion label id; "
                                + (f"the dataset's labels are {known}." if labels is not None
                                   else "ids are 1, 2, ... (0 is background)."))
        elif by_name:
            found = by_name[0]
        elif labels is None:
            raise UserError(f"{option}: the label name {token!r} needs the dataset's dataset.json (its 'labels'); "
                            f"give ids (e.g. 1,3) or the dataset.json.")
        else:
            raise UserError(f"{option}: no label named {token!r}; the dataset's labels are {known} "
                            f"(names or ids, comma-separated).")
        if found not in chosen:
            chosen.append(found)
    return LesionLabels(tuple(chosen), ignore, chosen=True)
