"""Converters on tiny fixtures in each official layout, and bad inputs that must fail cleanly with no output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conv_helpers import disk_mask, rgb
from nnunetv2_s3mamba.conversion import (
    ConversionError, convert_cvc_clinicdb, convert_folders, convert_isic2018, convert_kvasir_seg,
)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_cvc_official_tiff_layout(cvc_official, tmp_path):
    out = convert_cvc_clinicdb(cvc_official, tmp_path / "raw", 7, show_progress=False)
    assert out == tmp_path / "raw" / "Dataset007_CVCClinicDB"
    info = json.loads((out / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert info["labels"] == {"background": 0, "polyp": 1} and info["numTraining"] == 10
    image = _read(out / "imagesTr" / "cvc_003_0000.png")
    assert image.shape == (24, 32, 3)
    np.testing.assert_array_equal(image, rgb(24, 32, 3))  # lossless
    label = _read(out / "labelsTr" / "cvc_003.png")
    np.testing.assert_array_equal(label, disk_mask(24, 32, 12, 16, 5))  # soft value 100 -> background


def test_cvc_folder_copy_webp(tmp_path):
    src = tmp_path / "cvc"
    for frame in (1, 2):
        (src / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb(16, 16, frame)).save(src / "images" / f"{frame}.webp", lossless=True)
        _png(src / "masks" / f"{frame}.png", (disk_mask(16, 16, 8, 8, 4) * 200).astype(np.uint8))
    out = convert_cvc_clinicdb(src, tmp_path / "raw", 8, show_progress=False)
    np.testing.assert_array_equal(_read(out / "imagesTr" / "cvc_002_0000.png"), rgb(16, 16, 2))
    assert set(np.unique(_read(out / "labelsTr" / "cvc_001.png"))) == {0, 1}


def test_kvasir_jpeg_masks_are_thresholded_at_128(tmp_path):
    src = tmp_path / "kvasir"
    mask = disk_mask(40, 40, 20, 20, 10) * 255
    for name in ("a", "b"):
        (src / "images").mkdir(parents=True, exist_ok=True)
        (src / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb(40, 40, 1)).save(src / "images" / f"{name}.jpg", quality=90)
        Image.fromarray(np.repeat(mask[..., None], 3, -1).astype(np.uint8)).save(src / "masks" / f"{name}.jpg",
                                                                                 quality=60)
    noisy = np.asarray(Image.open(src / "masks" / "a.jpg"))
    assert len(np.unique(noisy)) > 2  # the fixture really is JPEG-noisy
    out = convert_kvasir_seg(src, tmp_path / "raw", 9, show_progress=False)
    label = _read(out / "labelsTr" / "a.png")
    assert set(np.unique(label)) == {0, 1}
    assert np.mean(label == disk_mask(40, 40, 20, 20, 10)) > 0.99


def test_isic_layout_and_rgba_images(tmp_path):
    src = tmp_path / "isic"
    rgba = np.concatenate([rgb(20, 30, 4), np.full((20, 30, 1), 7, np.uint8)], axis=-1)
    _png(src / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000001.png", rgba)
    Image.fromarray(rgb(20, 30, 5)).save(src / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000002.jpg")
    for i in (1, 2):
        _png(src / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_000000{i}_segmentation.png",
             (disk_mask(20, 30, 10, 15, 6) * 255).astype(np.uint8))
    out = convert_isic2018(src, tmp_path / "raw", 10, show_progress=False)
    np.testing.assert_array_equal(_read(out / "imagesTr" / "ISIC_0000001_0000.png"), rgba[..., :3])
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == ["ISIC_0000001.png", "ISIC_0000002.png"]


def test_gray_images_become_three_equal_channels(tmp_path):
    gray = rgb(12, 12, 0)[..., 0]
    _png(tmp_path / "img" / "x.png", gray)
    _png(tmp_path / "msk" / "x_mask.png", disk_mask(12, 12, 6, 6, 3))
    out = convert_folders(tmp_path / "img", tmp_path / "msk", tmp_path / "raw", 11, "Gray", mask_suffix="_mask",
                          show_progress=False)
    image = _read(out / "imagesTr" / "x_0000.png")
    assert image.shape == (12, 12, 3) and all(np.array_equal(image[..., c], gray) for c in range(3))


def _folder_pair(root: Path, n: int = 3, size=(10, 10)) -> tuple[Path, Path]:
    for i in range(n):
        _png(root / "img" / f"c{i}.png", rgb(*size, i))
        _png(root / "msk" / f"c{i}.png", (disk_mask(*size, 5, 5, 2) * 255).astype(np.uint8))
    return root / "img", root / "msk"


def _convert(images, masks, raw, **kw):
    return convert_folders(images, masks, raw, 12, "Bad", show_progress=False, **kw)


@pytest.mark.parametrize("problem, message", [
    ("missing_mask", "without a mask"),
    ("size_mismatch", "must match"),
    ("empty", "holds no images"),
    ("colour_mask", "colour channels"),
    ("multi_value", "different values"),
    ("unreadable", "cannot read image file"),
])
def test_bad_inputs_fail_with_clear_error_and_no_output(tmp_path, problem, message):
    images, masks = _folder_pair(tmp_path)
    if problem == "missing_mask":
        (masks / "c1.png").unlink()
    elif problem == "size_mismatch":
        _png(masks / "c2.png", np.zeros((10, 11), np.uint8))
    elif problem == "empty":
        for p in images.iterdir():
            p.unlink()
    elif problem == "colour_mask":
        colour = np.zeros((10, 10, 3), np.uint8)
        colour[2:5, 2:5] = (255, 0, 0)
        _png(masks / "c2.png", colour)
    elif problem == "multi_value":
        _png(masks / "c2.png", np.arange(100, dtype=np.uint8).reshape(10, 10))
    elif problem == "unreadable":
        (images / "c2.png").write_bytes(b"\x89PNG truncated")
    raw = tmp_path / "raw"
    with pytest.raises(ConversionError, match=message) as info:
        _convert(images, masks, raw)
    if problem in ("size_mismatch", "colour_mask", "multi_value", "unreadable"):
        assert "c2.png" in str(info.value)
    if problem == "size_mismatch":
        assert str(images / "c2.png") in str(info.value) and str(masks / "c2.png") in str(info.value)
    assert not raw.exists() or list(raw.iterdir()) == []  # no dataset, no staging leftovers


def test_binarize_accepts_noisy_masks(tmp_path):
    images, masks = _folder_pair(tmp_path)
    _png(masks / "c2.png", np.arange(100, dtype=np.uint8).reshape(10, 10) * 2)
    out = _convert(images, masks, tmp_path / "raw", binarize=True)
    np.testing.assert_array_equal(_read(out / "labelsTr" / "c2.png"),
                                  (np.arange(100).reshape(10, 10) * 2 >= 128).astype(np.uint8))


def test_existing_dataset_is_kept_unless_overwrite(tmp_path):
    images, masks = _folder_pair(tmp_path)
    raw = tmp_path / "raw"
    out = _convert(images, masks, raw)
    (out / "marker.txt").write_text("keep me")
    with pytest.raises(ConversionError, match="--overwrite"):
        _convert(images, masks, raw)
    assert (out / "marker.txt").exists()
    _png(masks / "c0.png", np.full((10, 10), 7, np.uint8))  # a failing re-conversion must not destroy the old one
    with pytest.raises(ConversionError):
        _convert(images, masks, raw, overwrite=True)
    assert (out / "marker.txt").exists()
    _png(masks / "c0.png", np.zeros((10, 10), np.uint8))
    _convert(images, masks, raw, overwrite=True)
    assert not (out / "marker.txt").exists() and sorted(p.name for p in raw.iterdir()) == ["Dataset012_Bad"]


def test_same_id_with_other_name_is_refused(tmp_path):
    images, masks = _folder_pair(tmp_path)
    _convert(images, masks, tmp_path / "raw")
    with pytest.raises(ConversionError, match="unique IDs"):
        convert_folders(images, masks, tmp_path / "raw", 12, "Other", show_progress=False, overwrite=True)
