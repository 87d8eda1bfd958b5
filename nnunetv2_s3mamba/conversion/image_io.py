"""Reading 2D images and masks the way every converter needs them: RGB uint8 images, 0/1 masks.

Decisions (documented in docs/DATA_AND_EVALUATION.md):
- Images always become 3-channel RGB. Gray images are repeated into R=G=B and an alpha channel is dropped, so
  every 2D dataset has the same three channels (R, G, B) and a network pretrained on RGB sees what it expects.
- Masks must be single-valued per pixel. 0/1 and 0/255 masks are accepted as they are; anything else (JPEG noise,
  anti-aliased borders, several classes) is an error unless binarisation is asked for, because silently
  thresholding a multi-class mask would merge classes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nnunetv2_s3mamba.conversion.errors import ConversionError

BINARIZE_THRESHOLD = 128
TIFF_SUFFIXES = (".tif", ".tiff")


def read_array(path: Path) -> np.ndarray:
    """Pixel array of a 2D image file; TIFF through tifffile (Pillow cannot read CVC-ClinicDB's TIFFs)."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as image:
                if image.mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                array = np.asarray(image)
    except Exception as error:  # every reader failure becomes one actionable message
        raise ConversionError(
            f"cannot read image file {path}: {error}. Check that the file is complete and is a PNG, JPEG, "
            f"WebP, BMP or TIFF image."
        ) from error
    return _channels_last(array)


def _channels_last(array: np.ndarray) -> np.ndarray:
    """tifffile may return planar (C, H, W) data; everything downstream expects (H, W[, C])."""
    if array.ndim == 3 and array.shape[0] in (1, 2, 3, 4) and array.shape[-1] not in (1, 2, 3, 4):
        return np.moveaxis(array, 0, -1)
    return array


def read_image_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB array: gray is repeated to three channels, alpha is dropped."""
    array = read_array(path)
    if array.dtype != np.uint8:
        raise ConversionError(
            f"image {path} has pixel type {array.dtype}; 8-bit images are expected. Convert it to 8-bit "
            f"(e.g. rescale to 0..255) before converting the dataset."
        )
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ConversionError(
            f"image {path} has shape {array.shape}; expected a 2D gray, gray+alpha, RGB or RGBA image."
        )
    if array.shape[-1] in (2, 4):
        array = array[..., :-1]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array)


def to_gray(array: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, the conversion Pillow's mode 'L' uses, so a gray mask keeps its values."""
    rgb = array[..., :3].astype(np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def binary_mask_from_values(values: np.ndarray, source: Path | str, binarize: bool) -> np.ndarray:
    """0/1 uint8 mask from a single-channel array of mask values.

    Without `binarize` only {0,1} and {0,255} are accepted. With it, foreground is value >= 128, except for
    masks whose maximum is 1 (already 0/1), which a 128 threshold would erase.
    """
    if values.dtype == bool:
        return values.astype(np.uint8)
    if binarize:
        if values.max(initial=0) <= 1:
            return (values > 0).astype(np.uint8)
        return (values >= BINARIZE_THRESHOLD).astype(np.uint8)
    unique = np.unique(values)
    if set(unique.tolist()) <= {0, 1}:
        return values.astype(np.uint8)
    if set(unique.tolist()) <= {0, 255}:
        return (values == 255).astype(np.uint8)
    shown = ", ".join(str(v) for v in unique[:10]) + (", ..." if unique.size > 10 else "")
    raise ConversionError(
        f"mask {source} has {unique.size} different values ({shown}); expected 0/1 or 0/255. If it is a binary "
        f"mask with compression noise or soft borders, pass --binarize (foreground = value >= "
        f"{BINARIZE_THRESHOLD}); if it holds several classes, convert it yourself."
    )


def read_mask(path: Path, binarize: bool = False) -> np.ndarray:
    """(H, W) uint8 mask of 0/1 from a mask file.

    Colour masks are accepted when their channels are identical (a gray mask saved as RGB). Channels that differ
    are an error unless `binarize`, which converts to gray first (JPEG masks such as Kvasir-SEG's).
    """
    array = read_array(path)
    if array.ndim == 3:
        if array.shape[-1] in (2, 4):
            array = array[..., :-1]
        if array.shape[-1] == 1 or np.all(array == array[..., :1]):
            array = array[..., 0]
        elif binarize:
            array = to_gray(array)
        else:
            raise ConversionError(
                f"mask {path} has {array.shape[-1]} colour channels with different values; a single-channel "
                f"mask is expected. Pass --binarize to convert it to gray and threshold at {BINARIZE_THRESHOLD}."
            )
    if array.ndim != 2:
        raise ConversionError(f"mask {path} has shape {array.shape}; expected a 2D mask.")
    return binary_mask_from_values(array, path, binarize)


def write_png(array: np.ndarray, path: Path) -> None:
    """Lossless PNG, the 2D format nnU-Net's NaturalImage2DIO reads."""
    from PIL import Image

    Image.fromarray(array).save(path, compress_level=1)
