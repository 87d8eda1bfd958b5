"""Fixtures that build tiny datasets in each source layout, and the `e2e` marker for real nnU-Net runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conv_helpers import disk_mask, rgb


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real end-to-end run of nnU-Net's own tools (select with -m e2e)")


@pytest.fixture
def cvc_official(tmp_path: Path) -> Path:
    """CVC-ClinicDB official layout: Original/N.tif (RGB) and 'Ground Truth'/N.tif (0/255 with a soft border)."""
    import tifffile

    root = tmp_path / "CVC-ClinicDB"
    (root / "Original").mkdir(parents=True)
    (root / "Ground Truth").mkdir()
    for frame in range(1, 11):
        mask = disk_mask(24, 32, 12, 16, 2 + frame) * 255
        mask[0, 0] = 100  # a soft border value, as in the real masks (binarised away at >= 128)
        tifffile.imwrite(root / "Original" / f"{frame}.tif", rgb(24, 32, frame))
        tifffile.imwrite(root / "Ground Truth" / f"{frame}.tif", mask.astype(np.uint8))
    return root
