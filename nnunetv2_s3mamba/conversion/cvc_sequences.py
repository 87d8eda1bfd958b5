"""CVC-ClinicDB frame -> video sequence table.

Copied as data from the dataset's own README (README_original.txt, "The correspondence between the number of
frame and the video sequence"): 612 frames in 29 sequences. Frames of one sequence are near-duplicates, so a
split that puts one sequence on both sides leaks.
"""
from __future__ import annotations

from nnunetv2_s3mamba.conversion.errors import ConversionError

# (first frame, last frame) of sequences 1..29, inclusive, from README_original.txt.
CVC_SEQUENCE_RANGES: tuple[tuple[int, int], ...] = (
    (1, 25), (26, 50), (51, 67), (68, 78), (79, 103), (104, 126), (127, 151), (152, 177), (178, 199),
    (200, 205), (206, 227), (228, 252), (253, 277), (278, 297), (298, 317), (318, 342), (343, 363),
    (364, 383), (384, 408), (409, 428), (429, 447), (448, 466), (467, 478), (479, 503), (504, 528),
    (529, 546), (547, 571), (572, 591), (592, 612),
)


def cvc_sequence_of_frame(frame: int) -> int:
    """Sequence number (1..29) of a CVC-ClinicDB frame number (1..612)."""
    for sequence, (first, last) in enumerate(CVC_SEQUENCE_RANGES, start=1):
        if first <= frame <= last:
            return sequence
    raise ConversionError(f"CVC-ClinicDB frame {frame} is outside 1..612; the sequence table does not cover it.")
