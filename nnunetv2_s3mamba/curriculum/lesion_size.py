"""Lesion size per curriculum sample, read once from nnU-Net's preprocessed segmentations.

A *sample* is what the `2d` configuration trains on: a 2D image (stored by nnU-Net as one slice, shape
`(1, 1, H, W)`), or one slice of a 3D volume. The Difficulty Measurer initialises its weights from these sizes
(paper: "We establish a Difficulty Measurer based on the size of the lesions").

A lesion pixel is one of the chosen lesion labels (`data.lesion_labels`; default every foreground label).
Counting is exact (nnU-Net's `class_locations` are subsampled for large objects, so they cannot give sizes).
The table is cached as JSON in the trainer's output folder, never in `nnUNet_preprocessed`, which may be shared
or read-only; a cached case is reused only while its segmentation shape and the lesion labels are unchanged.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Protocol

import numpy as np

from nnunetv2_s3mamba.data.lesion_labels import LesionLabels
from nnunetv2_s3mamba.data.strata import STRATA, size_stratum, stratum_thresholds

CACHE_FORMAT_VERSION = 2  # 2: the cache records the lesion labels it counted
SLICE_SEPARATOR = "@slice"
NO_LESION = "none"  # the size stratum of a sample without lesion


class CaseDataset(Protocol):
    """What we need from an nnU-Net dataset (`nnUNetDatasetBlosc2`, `nnUNetDatasetNumpy`)."""

    identifiers: list

    def load_case(self, identifier: str): ...


def sample_id(case_id: str, slice_index: int, num_slices: int) -> str:
    """A 2D image keeps its case id (so batch keys stay nnU-Net's); a volume slice gets `<case>@slice<z>`."""
    return case_id if num_slices == 1 else f"{case_id}{SLICE_SEPARATOR}{slice_index}"


def count_lesion_pixels(seg: np.ndarray, lesion: LesionLabels = LesionLabels()) -> np.ndarray:
    """Lesion pixels per slice of a preprocessed segmentation `(1, Z, H, W)`.

    Label 0 is background and -1 marks voxels outside nnU-Net's crop mask; the ignore label is not a lesion.
    """
    if seg.ndim != 4:
        raise ValueError(f"expected a preprocessed segmentation of shape (1, Z, H, W), got shape {seg.shape}")
    labels = np.asarray(seg[0])
    return lesion.mask(labels).reshape(labels.shape[0], -1).sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class SampleTable:
    """All training samples in a fixed order; every curriculum array is indexed like this table."""

    sample_ids: tuple
    case_ids: tuple
    slice_indices: np.ndarray
    lesion_sizes: np.ndarray
    slices_in_case: np.ndarray

    def __post_init__(self) -> None:
        if len(self.sample_ids) == 0:
            raise ValueError("the curriculum needs at least one training sample, the training split is empty")

    def __len__(self) -> int:
        return len(self.sample_ids)

    @cached_property
    def row_of(self) -> dict:
        """Map sample id -> row, used to turn a batch's `keys` into rows."""
        return {sid: i for i, sid in enumerate(self.sample_ids)}

    def nnunet_prior(self) -> np.ndarray:
        """nnU-Net's own sampling distribution: cases uniform, then a slice uniform within its case.

        Multiplying curriculum weights onto this prior means equal weights reproduce nnU-Net's case balance,
        whatever the number of slices per volume.
        """
        prior = 1.0 / self.slices_in_case.astype(np.float64)
        return prior / prior.sum()

    @cached_property
    def size_strata(self) -> np.ndarray:
        """The paper's stratum of every sample (`data.strata`), ranked among the samples that have a lesion.

        Samples without a lesion get NO_LESION: most slices of a volume are empty, and ranking them would fill
        the small stratum with samples that have no lesion.
        """
        sizes = self.lesion_sizes
        strata = np.full(len(sizes), NO_LESION, dtype=f"<U{max(map(len, STRATA))}")
        non_empty = sizes > 0
        if non_empty.any():
            strata[non_empty] = size_stratum(sizes[non_empty], stratum_thresholds(sizes[non_empty]))
        return strata


def _cache_key(lesion: LesionLabels) -> dict:
    """What the cached sizes counted: the lesion label ids (None: every label > 0) and the ignore label."""
    return {"ids": None if lesion.ids is None else list(lesion.ids), "ignore_label": lesion.ignore_label}


def _load_cache(cache_file: Optional[str], lesion: LesionLabels) -> dict:
    if cache_file is None or not os.path.isfile(cache_file):
        return {}
    try:
        with open(cache_file) as f:
            content = json.load(f)
        if content.get("format_version") != CACHE_FORMAT_VERSION or content["lesion_labels"] != _cache_key(lesion):
            return {}
        return content["cases"]
    except (OSError, ValueError, KeyError, AttributeError) as error:
        warnings.warn(f"Ignoring unreadable lesion-size cache {cache_file} ({error!r}); recomputing it.")
        return {}


def _write_cache(cache_file: str, cases: dict, lesion: LesionLabels) -> None:
    """Atomic write: a crash mid-write must not leave a truncated cache behind."""
    os.makedirs(os.path.dirname(os.path.abspath(cache_file)), exist_ok=True)
    tmp = f"{cache_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"format_version": CACHE_FORMAT_VERSION, "lesion_labels": _cache_key(lesion), "cases": cases}, f)
    os.replace(tmp, cache_file)


def build_sample_table(dataset: CaseDataset, lesion: LesionLabels = LesionLabels(),
                       cache_file: Optional[str] = None, write_cache: bool = True) -> SampleTable:
    """Per-sample sizes of the `lesion` labels in every case of `dataset`, reusing `cache_file` where still valid.

    `write_cache=False` for DDP ranks other than 0: every rank counts the same way, only one writes.
    """
    identifiers = sorted(dataset.identifiers)
    cached = _load_cache(cache_file, lesion)
    cases: dict = {}
    for case in identifiers:
        _, seg, _, _ = dataset.load_case(case)
        shape = [int(s) for s in seg.shape]
        entry = cached.get(case)
        if entry is None or entry.get("shape") != shape:
            entry = {"shape": shape, "sizes": count_lesion_pixels(seg, lesion).tolist()}
        cases[case] = entry
    if cache_file is not None and write_cache and cases != {k: cached.get(k) for k in cases}:
        _write_cache(cache_file, cases, lesion)

    sample_ids, case_ids, slices, sizes, slices_in_case = [], [], [], [], []
    for case in identifiers:
        per_slice = cases[case]["sizes"]
        for z, size in enumerate(per_slice):
            sample_ids.append(sample_id(case, z, len(per_slice)))
            case_ids.append(case)
            slices.append(z)
            sizes.append(size)
            slices_in_case.append(len(per_slice))
    return SampleTable(tuple(sample_ids), tuple(case_ids), np.asarray(slices, dtype=np.int64),
                       np.asarray(sizes, dtype=np.int64), np.asarray(slices_in_case, dtype=np.int64))
