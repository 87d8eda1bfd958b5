"""Fixtures shared by all test folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Triton's interpreter runs the "triton" scan backend's kernels on the CPU (test_ops_triton_scan.py).
    # `triton.jit` reads this variable when it decorates, triton's own library functions included, so it must be set
    # before anything imports triton (nnU-Net's imports do).
    os.environ.setdefault("TRITON_INTERPRET", "1")

from nnunet_cli import make_nnunet_env


E2E_FOLDERS = ("e2e", "quickstart")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e and tests/quickstart is an end-to-end test (`-m "not e2e"` leaves them out)."""
    for item in items:
        if Path(item.path).parent.name in E2E_FOLDERS:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def nnunet_env(tmp_path: Path) -> dict[str, str]:
    """nnU-Net environment with data folders under this test's tmp_path."""
    return make_nnunet_env(tmp_path)
