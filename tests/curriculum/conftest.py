"""Fixtures for the curriculum tests."""
import numpy as np
import pytest

from cl_builders import write_preprocessed_cases


@pytest.fixture
def disc_volumes(tmp_path):
    """Two 3D cases (4 and 2 slices) and one 2D-like case; lesion sizes per slice are known exactly."""
    segs = {}
    yy, xx = np.mgrid[:16, :16]
    vol_a = np.zeros((4, 16, 16), np.int16)
    for z, r in enumerate([0, 2, 5, 1]):
        if r:
            vol_a[z][(yy - 8) ** 2 + (xx - 8) ** 2 <= r ** 2] = 1
    vol_b = np.zeros((2, 16, 16), np.int16)
    vol_b[1, 2:6, 2:6] = 1
    img_c = np.zeros((1, 16, 16), np.int16)
    img_c[0, :8, :8] = 1
    segs.update({"a": vol_a, "b": vol_b, "c": img_c})
    folder = str(tmp_path / "preprocessed")
    write_preprocessed_cases(folder, segs)
    return folder, segs
