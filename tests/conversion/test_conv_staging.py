"""Dataset folders appear whole, and with the permissions the user's umask asks for (as nnU-Net's own do)."""
from __future__ import annotations

import os
import shutil
import stat

import pytest

from conv_helpers import multiclass_source
from nnunetv2_s3mamba.conversion import export_nifti_slices, make_synthetic_lesion_dataset, reassemble_slices


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def _modes(folder):
    """{'dir' | 'file': set of permission bits} of `folder` and everything below it."""
    modes = {"dir": {stat.S_IMODE(folder.stat().st_mode)}, "file": set()}
    for path in folder.rglob("*"):
        modes["dir" if path.is_dir() else "file"].add(stat.S_IMODE(path.stat().st_mode))
    return modes


def test_dataset_folders_and_files_follow_the_umask(tmp_path, umask_027):
    synthetic = make_synthetic_lesion_dataset(tmp_path / "raw", 50, n_cases=2, size=16, show_progress=False)
    assert _modes(synthetic) == {"dir": {0o750}, "file": {0o640}}
    multiclass_source(tmp_path / "src")
    sliced = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 51, "Slices", show_progress=False)
    assert _modes(sliced) == {"dir": {0o750}, "file": {0o640}}
    shutil.copytree(sliced / "labelsTr", tmp_path / "pred")
    reassemble_slices(tmp_path / "pred", sliced / "slice_index.json", tmp_path / "vol", show_progress=False)
    assert _modes(tmp_path / "vol") == {"dir": {0o750}, "file": {0o640}}
