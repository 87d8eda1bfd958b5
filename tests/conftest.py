"""Fixtures shared by all test folders."""
from __future__ import annotations

from pathlib import Path

import pytest

from nnunet_cli import make_nnunet_env


@pytest.fixture
def nnunet_env(tmp_path: Path) -> dict[str, str]:
    """nnU-Net environment with data folders under this test's tmp_path."""
    return make_nnunet_env(tmp_path)
