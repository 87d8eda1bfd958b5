"""Build a dataset folder out of sight and move it into place only when complete.

nnU-Net finds datasets by the folder prefix `DatasetXXX_`; a half-written folder would be picked up (and two
folders with one ID make nnU-Net refuse the ID). So every converter writes into a hidden temporary folder next
to the destination (same file system, so the final rename is atomic) and an error leaves nothing behind.
tempfile.mkdtemp creates that folder as 0700; it gets the user's umask mode before anything is written, so the
renamed dataset is shared like a folder nnU-Net itself creates (files inside follow the umask on their own).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nnunetv2_s3mamba.conversion.errors import ConversionError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """nnU-Net's folder name `DatasetXXX_Name` after checking ID and name."""
    if not 1 <= int(dataset_id) <= 999:
        raise ConversionError(f"dataset ID {dataset_id} is outside 1..999, the range nnU-Net's 3-digit IDs allow.")
    if not NAME_PATTERN.match(name):
        raise ConversionError(f"dataset name {name!r} may only hold letters, digits, '_' and '-'.")
    return f"Dataset{int(dataset_id):03d}_{name}"


def resolve_raw_dir(raw_dir: str | os.PathLike | None) -> Path:
    """The nnU-Net raw folder: the given one, else $nnUNet_raw."""
    if raw_dir is None:
        raw_dir = os.environ.get("nnUNet_raw")
        if not raw_dir:
            raise ConversionError("no output folder given and $nnUNet_raw is not set: pass -o NNUNET_RAW_DIR.")
    return Path(raw_dir)


def find_dataset_dir(raw_dir: str | os.PathLike | None, dataset_id: int) -> Path:
    """The existing folder `DatasetXXX_*` of an ID in the raw folder."""
    raw = resolve_raw_dir(raw_dir)
    matches = sorted(raw.glob(f"Dataset{int(dataset_id):03d}_*")) if raw.is_dir() else []
    if len(matches) != 1:
        found = ", ".join(m.name for m in matches) or "none"
        raise ConversionError(f"expected exactly one folder Dataset{int(dataset_id):03d}_* in {raw}, found {found}.")
    return matches[0]


def _check_destination(raw: Path, folder: str, overwrite: bool) -> Path:
    target = raw / folder
    prefix = folder.split("_", 1)[0] + "_"
    clashes = [p.name for p in raw.glob(prefix + "*") if p.name != folder]
    if clashes:
        raise ConversionError(
            f"{raw} already holds {', '.join(sorted(clashes))} with the same dataset ID; nnU-Net needs unique IDs. "
            f"Choose another -d ID or remove that folder."
        )
    if target.exists() and not overwrite:
        raise ConversionError(f"{target} already exists; pass --overwrite to replace it.")
    return target


def _umask_mode(mode: int = 0o777) -> int:
    """`mode` less the process's umask: the permissions os.mkdir would give a new folder."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _staging_dir(parent: Path, prefix: str) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    staging.chmod(_umask_mode())
    return staging


@contextmanager
def staged_dataset(
    raw_dir: str | os.PathLike | None, dataset_id: int, name: str, overwrite: bool = False,
    start_from: Path | None = None,
) -> Iterator[Path]:
    """Yield an empty (or `start_from`-copied) temporary dataset folder; move it into place on success.

    On any exception the temporary folder is removed and an existing dataset stays untouched.
    """
    raw = resolve_raw_dir(raw_dir)
    folder = dataset_folder_name(dataset_id, name)
    raw.mkdir(parents=True, exist_ok=True)
    target = _check_destination(raw, folder, overwrite or start_from is not None)
    staging = _staging_dir(raw, f".{folder}.staging-")
    try:
        if start_from is not None:
            shutil.copytree(start_from, staging, dirs_exist_ok=True)
        yield staging
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder}.replaced-", dir=raw))
            os.replace(target, old / folder)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextmanager
def staged_files(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary folder inside `out_dir`; on success move each file in it to `out_dir`.

    For outputs that join a folder other tools also write to (a prediction folder), where no whole folder can be
    swapped in: each file still appears complete (os.replace), and on any exception none of them appears.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = _staging_dir(out_dir, ".s3mamba.staging-")
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
