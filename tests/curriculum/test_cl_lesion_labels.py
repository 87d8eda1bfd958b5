"""The curriculum's lesion sizes count only the chosen lesion labels (`S3MAMBA_LESION_LABELS`, names or ids of
dataset.json `labels`, regions included), read when the trainer is built, logged once, cached per choice."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_s3mamba.curriculum.lesion_size import build_sample_table, count_lesion_pixels
from nnunetv2_s3mamba.curriculum.trainer_mixin import CurriculumMixin
from nnunetv2_s3mamba.data.lesion_labels import LESION_LABELS_ENV, LesionLabels, resolve_lesion_labels
from nnunetv2_s3mamba.errors import UserError

LABELS = {"background": 0, "node": 1, "other": 2, "cyst": 3, "ignore": 4}
REGIONS = {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enhancing": 3}


def test_names_ids_and_default():
    assert resolve_lesion_labels(None, LABELS).ids == (1, 2, 3)       # all foreground, ignore label excepted
    assert resolve_lesion_labels("node", LABELS).ids == (1,)
    assert resolve_lesion_labels("1, cyst", LABELS).describe() == "node (1), cyst (3)"
    assert resolve_lesion_labels("2", None).ids == (2,)               # ids need no dataset.json
    with pytest.raises(UserError, match=r"no label named 'nodes'.*node \(1\), other \(2\), cyst \(3\)"):
        resolve_lesion_labels("nodes", LABELS)
    for bad in ("0", "4", "7"):                                        # background, ignore, absent
        with pytest.raises(UserError, match="not a lesion label id"):
            resolve_lesion_labels(bad, LABELS)
    with pytest.raises(UserError, match="needs the dataset's dataset.json"):
        resolve_lesion_labels("node", None)


def test_regions_stand_for_their_stored_labels():
    core = resolve_lesion_labels("core", REGIONS)
    seg = np.array([0, 1, 2, 3, 3])
    assert core.mask(seg).tolist() == [False, False, True, True, True]
    assert resolve_lesion_labels("1", REGIONS).ids == (1,)            # a stored label inside a region
    assert resolve_lesion_labels("enhancing", REGIONS).classes[0].name == "enhancing"


def test_count_only_the_chosen_labels():
    seg = np.array([[[[0, 1, 2], [-1, 1, 3]], [[2, 2, 2], [2, 2, 0]]]])   # slice 1: only the 'other' class
    assert count_lesion_pixels(seg).tolist() == [4, 5]
    assert count_lesion_pixels(seg, resolve_lesion_labels("node", LABELS)).tolist() == [2, 0]
    assert count_lesion_pixels(seg, resolve_lesion_labels("node,cyst", LABELS)).tolist() == [3, 0]


class _Cases:
    identifiers = ["a"]

    def load_case(self, identifier):
        seg = np.array([[[[1, 1], [2, 2]], [[2, 2], [2, 0]]]])
        return None, seg, None, {}


def test_cache_is_recounted_when_the_choice_changes(tmp_path):
    cache = str(tmp_path / "sizes.json")
    assert build_sample_table(_Cases(), LesionLabels(), cache).lesion_sizes.tolist() == [4, 3]
    node = resolve_lesion_labels("node", LABELS)
    assert build_sample_table(_Cases(), node, cache).lesion_sizes.tolist() == [2, 0]
    assert json.load(open(cache))["lesion_labels"] == {"ids": [1], "ignore_label": 4}


class _FakeTrainer:
    was_initialized = False

    def __init__(self, plans, configuration, fold, dataset_json, device):
        self.dataset_json = dataset_json
        self.log = []

    def initialize(self):
        self.was_initialized = True

    def print_to_log_file(self, *args, **kwargs):
        self.log.append(" ".join(map(str, args)))


class _Trainer(CurriculumMixin, _FakeTrainer):
    pass


def test_trainer_reads_the_environment_once(monkeypatch):
    monkeypatch.setenv(LESION_LABELS_ENV, "node")
    trainer = _Trainer({}, "2d", 0, {"labels": LABELS}, "cpu")
    trainer.initialize()
    assert trainer.lesion_labels.ids == (1,)
    assert trainer.log == [f"Curriculum: lesion sizes count node (1) ({LESION_LABELS_ENV}='node')"]
    monkeypatch.setenv(LESION_LABELS_ENV, "tumour")
    with pytest.raises(UserError, match=f"{LESION_LABELS_ENV}: no label named 'tumour'"):
        _Trainer({}, "2d", 0, {"labels": LABELS}, "cpu").initialize()
    monkeypatch.delenv(LESION_LABELS_ENV)
    trainer = _Trainer({}, "2d", 0, {"labels": LABELS}, "cpu")
    trainer.initialize()
    assert trainer.lesion_labels.ids == (1, 2, 3)
