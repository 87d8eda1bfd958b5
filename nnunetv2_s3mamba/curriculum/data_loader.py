"""nnU-Net's training data loader, drawing curriculum samples by the Training Scheduler's probabilities.

How the weights act on training [ours]: by *sampling*, not by weighting the loss. Drawing sample i with
probability p_i = v_i / sum(v) gives E[grad l_i] = sum_i v_i grad l_i / sum(v), i.e. eq. 6's weighted objective
in expectation (normalised, so nnU-Net's learning rates keep their meaning), while nnU-Net's loss stays exactly
what it optimises: its batch Dice has no per-sample decomposition to weight, and deep supervision, AMP/GradScaler
and torch.compile are untouched. See docs/CURRICULUM.md.

nnU-Net runs this loader in persistent worker processes holding copies of it, so the probabilities live in a
`multiprocessing.Array` created here, before the workers start, and the trainer rewrites it each epoch.
"""
from __future__ import annotations

import multiprocessing
from typing import List, Tuple, Union

import numpy as np
from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.utilities.label_handling.label_handling import LabelManager

from nnunetv2_s3mamba.curriculum.lesion_size import CaseDataset, SampleTable


class SliceSampleDataset:
    """Presents each curriculum sample as an nnU-Net case, so nnU-Net's batch assembly runs unchanged.

    A 2D image is its own case. A slice of a 3D volume loads as a one-slice volume whose foreground locations
    are those of that slice, so nnU-Net's foreground oversampling still finds the lesion in the drawn slice.
    """

    def __init__(self, dataset: CaseDataset, table: SampleTable):
        self.dataset = dataset
        self.table = table
        self.identifiers = list(table.sample_ids)

    def load_case(self, identifier: str):
        row = self.table.row_of[identifier]
        case = self.table.case_ids[row]
        data, seg, seg_prev, properties = self.dataset.load_case(case)
        if self.table.slices_in_case[row] == 1:
            return data, seg, seg_prev, properties
        z = int(self.table.slice_indices[row])
        properties = dict(properties)
        properties["class_locations"] = {
            label: _locations_in_slice(locations, z) for label, locations in properties["class_locations"].items()}
        seg_prev = None if seg_prev is None else seg_prev[:, z:z + 1]
        return data[:, z:z + 1], seg[:, z:z + 1], seg_prev, properties

    def __getitem__(self, identifier: str):
        return self.load_case(identifier)


def _locations_in_slice(locations: np.ndarray, z: int) -> np.ndarray:
    """Rows (c, z, y, x) of slice z, re-indexed to the one-slice volume (z -> 0)."""
    locations = np.asarray(locations)
    if locations.size == 0:
        return locations
    in_slice = locations[locations[:, 1] == z].copy()
    in_slice[:, 1] = 0
    return in_slice


class CurriculumDataLoader(nnUNetDataLoader):
    """`nnUNetDataLoader` over curriculum samples, drawn with shared, trainer-updated probabilities.

    Batch positions that nnU-Net forces to contain foreground draw only among samples with a lesion (when any
    exists), since a forced position on an empty slice could not honour the request; the others draw among all.
    """

    def __init__(self, data: CaseDataset, batch_size: int,
                 patch_size: Union[List[int], Tuple[int, ...], np.ndarray],
                 final_patch_size: Union[List[int], Tuple[int, ...], np.ndarray],
                 label_manager: LabelManager, sample_table: SampleTable,
                 oversample_foreground_percent: float = 0.0,
                 pad_sides: Union[List[int], Tuple[int, ...]] = None,
                 probabilistic_oversampling: bool = False,
                 transforms=None):
        super().__init__(SliceSampleDataset(data, sample_table), batch_size, patch_size, final_patch_size,
                         label_manager, oversample_foreground_percent, None, pad_sides,
                         probabilistic_oversampling, transforms)
        self.sample_table = sample_table
        self.indices = list(sample_table.sample_ids)
        self._has_lesion = sample_table.lesion_sizes > 0
        self._shared_probabilities = multiprocessing.Array("d", len(sample_table))
        self.set_sampling_probabilities(sample_table.nnunet_prior())
        self._decide_oversample = self.get_do_oversample
        self.get_do_oversample = self._replay_oversample_decision
        self._oversample_decisions: list = []

    def set_sampling_probabilities(self, probabilities: np.ndarray) -> None:
        """Called by the trainer (main process); workers see the new values from their next batch on."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (len(self.sample_table),) or not np.all(np.isfinite(probabilities)) \
                or np.any(probabilities < 0) or probabilities.sum() <= 0:
            raise ValueError("sampling probabilities must be finite, non-negative, not all zero, one per sample")
        with self._shared_probabilities.get_lock():
            self._shared_probabilities[:] = (probabilities / probabilities.sum()).tolist()

    def sampling_probabilities_now(self) -> np.ndarray:
        with self._shared_probabilities.get_lock():
            return np.frombuffer(self._shared_probabilities.get_obj(), dtype=np.float64).copy()

    def _replay_oversample_decision(self, sample_idx: int) -> bool:
        return self._oversample_decisions[sample_idx]

    def get_indices(self) -> list:
        """Decide foreground oversampling per position first (nnU-Net's rule), then draw each position's sample."""
        p = self.sampling_probabilities_now()
        self._oversample_decisions = [bool(self._decide_oversample(j)) for j in range(self.batch_size)]
        p_lesion = np.where(self._has_lesion, p, 0.0)
        p_lesion = p_lesion / p_lesion.sum() if p_lesion.sum() > 0 else p
        rows = [np.random.choice(len(p), p=p_lesion if force_fg else p) for force_fg in self._oversample_decisions]
        return [self.indices[r] for r in rows]


def nnunet_train_loader(augmenter) -> nnUNetDataLoader:
    """The data loader inside nnU-Net's training augmenter (multi-process or single-threaded)."""
    if isinstance(augmenter, NonDetMultiThreadedAugmenter):
        return augmenter.generator
    if isinstance(augmenter, SingleThreadedAugmenter):
        return augmenter.data_loader
    raise TypeError(f"cannot attach the curriculum to a training augmenter of type {type(augmenter).__name__}")


def replace_train_loader(augmenter, sample_table: SampleTable, label_manager: LabelManager,
                         probabilistic_oversampling: bool) -> Tuple[object, CurriculumDataLoader]:
    """Rebuild nnU-Net's training augmenter around a CurriculumDataLoader with the same settings.

    nnU-Net constructs its loaders inline in `get_dataloaders`; rebuilding from the built augmenter's own
    settings (then stopping it) keeps every nnU-Net choice - transforms, patch sizes, oversampling, worker count -
    without copying that method.
    """
    old = nnunet_train_loader(augmenter)
    strip = (lambda size: tuple(size[1:])) if old.patch_size_was_2d else tuple
    loader = CurriculumDataLoader(
        old._data, old.batch_size, strip(old.patch_size), strip(old.final_patch_size), label_manager,
        sample_table, oversample_foreground_percent=old.oversample_foreground_percent,
        pad_sides=None if old.pad_sides is None else strip(old.pad_sides),
        probabilistic_oversampling=probabilistic_oversampling, transforms=old.transforms)
    if isinstance(augmenter, SingleThreadedAugmenter):
        return SingleThreadedAugmenter(loader, augmenter.transform), loader
    augmenter._finish()
    return NonDetMultiThreadedAugmenter(loader, augmenter.transform, augmenter.num_processes, augmenter.num_cached,
                                        seeds=None, pin_memory=augmenter.pin_memory,
                                        wait_time=augmenter.wait_time), loader
