"""Every trainer name the README and docs/ mention resolves through nnU-Net's own lookup, and the README's trainer
table is the registry's (`s3mamba trainers --markdown`)."""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

from nnunetv2_s3mamba.setup_check import ext_trainer_dir
from nnunetv2_s3mamba.trainers.listing import markdown_table
from nnunetv2_s3mamba.trainers.registry import TRAINERS
from nnunet_cli import SUPPORT

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# A whole identifier: not part of a file name (`train_S3MambaTrainer_2epochs.log`) and not a template
# (`S3MambaTrainer_<N>epochs`, `S3MambaTrainer_*`).
TRAINER_TOKEN = re.compile(r"(?<![\w/.-])((?:S3Mamba|nnUNet)Trainer\w*)(?![\w<*])")
# Classes the registry's rows derive from that are no `-tr` name (`S3MambaTrainerBase`, in the README's table).
HOOK_BASES = {base for row in TRAINERS.values() for base in row.bases if base not in TRAINERS}


@pytest.mark.slow
def test_every_trainer_name_in_the_docs_resolves(monkeypatch):
    # the docs also name the test trainers of tests/support, registered as the end-to-end tests register them
    monkeypatch.setenv("nnUNet_extTrainer", os.pathsep.join([str(ext_trainer_dir()), str(SUPPORT / "nnunet_ext_test")]))
    monkeypatch.syspath_prepend(str(SUPPORT))
    names = {(name, doc.relative_to(ROOT)) for doc in DOCS for name in TRAINER_TOKEN.findall(doc.read_text())
             if name not in HOOK_BASES}
    assert any(name == "S3MambaTrainer" for name, _ in names)
    unresolved = []
    for name, doc in sorted(names):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net prints every folder it searches
                recursive_find_trainer_class_by_name(name)
        except RuntimeError:
            unresolved.append(f"{doc}: {name}")
    assert not unresolved, "trainer names nnU-Net cannot find:\n" + "\n".join(unresolved)


def test_readme_trainer_table_is_the_registry():
    assert markdown_table() in (ROOT / "README.md").read_text(), \
        "README's trainer table differs from the registry: paste `s3mamba trainers --markdown` into it"
