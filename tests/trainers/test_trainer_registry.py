"""The registry (trainers/registry.py) is the only list of trainer names: every row is a class nnU-Net finds by its
name, that pickles, and that is exactly its bases plus the attributes its row says it changes."""
from __future__ import annotations

import contextlib
import importlib
import io
import pickle

import pytest
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

import nnunetv2_s3mamba.trainers as trainers
from nnunetv2_s3mamba.cli import main
from nnunetv2_s3mamba.setup_check import ext_trainer_dir
from nnunetv2_s3mamba.trainers.listing import EPOCH_RULE_NAME
from nnunetv2_s3mamba.trainers.registry import (GROUPS, NAMED_ROWS, SCHEDULE_EPOCHS, TRAINERS, TrainerRow,
                                                rows_of_group)


def test_the_package_exports_exactly_the_registry():
    assert trainers.__all__ == list(TRAINERS)
    for group, spec in GROUPS.items():
        assert importlib.import_module(spec.module).__all__ == [row.name for row in rows_of_group(group)]


@pytest.mark.slow
def test_every_name_is_found_by_nnunet_and_pickles(monkeypatch):
    monkeypatch.setenv("nnUNet_extTrainer", str(ext_trainer_dir()))
    for name, row in TRAINERS.items():
        with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net prints every folder it searches
            found = recursive_find_trainer_class_by_name(name)
        assert found is getattr(trainers, name), name
        assert found.__module__ == GROUPS[row.group].module and found.__qualname__ == name
        assert pickle.loads(pickle.dumps(found)) is found  # what spawn/forkserver data-loader workers need


def _own_attributes(cls: type) -> dict:
    return {key: value for key, value in vars(cls).items() if not key.startswith("__")}


@pytest.mark.parametrize("row", TRAINERS.values(), ids=list(TRAINERS))
def test_each_class_is_its_bases_plus_its_changes(row: TrainerRow):
    cls = getattr(trainers, row.name)
    assert [base.__name__ for base in cls.__bases__] == list(row.bases)
    assert _own_attributes(cls) == dict(row.changes)
    assert cls.__doc__ == row.description and row.description


def test_epoch_variants_follow_the_one_rule():
    for row in NAMED_ROWS:
        variants = [name for name in TRAINERS if name.startswith(f"{row.name}_") and name.endswith("epochs")
                    and TRAINERS[name].bases == (row.name,) and TRAINERS[name].group == "training_length"]
        expected = [f"{row.name}_{epochs}epochs" for epochs in SCHEDULE_EPOCHS] if GROUPS[row.group].epoch_variants \
            else []
        assert variants == expected, row.name
        for epochs, name in zip(SCHEDULE_EPOCHS, expected):
            assert getattr(trainers, name).epochs == epochs and issubclass(getattr(trainers, name),
                                                                           getattr(trainers, row.name))


def _s3mamba_trainers(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["trainers", *args])
    return code, out.getvalue()


def test_cli_lists_every_named_row_and_the_epoch_rule_once():
    code, text = _s3mamba_trainers()
    assert code == 0
    for row in NAMED_ROWS:
        assert f"  {row.name} " in text and row.description in text
    assert EPOCH_RULE_NAME in text and "S3MambaTrainer_TCMA_CL_50epochs" not in text


def test_cli_pattern_matches_generated_names_too():
    code, text = _s3mamba_trainers("*_15epochs")
    listed = {line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.split()[0] in TRAINERS}
    assert code == 0 and listed == {name for name in TRAINERS if name.endswith("_15epochs")}
    code, text = _s3mamba_trainers("TCMAfull")
    assert "S3MambaTrainer_TCMAfullres_1000epochs" in text and "S3MambaTrainer_fast" not in text
    assert _s3mamba_trainers("no_such_trainer")[0] == 1
