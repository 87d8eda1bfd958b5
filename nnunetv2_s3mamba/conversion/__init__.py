"""Dataset conversion to nnU-Net raw format and the paper's size-stratified split.

Importing this package is cheap (NumPy only); nnU-Net, Pillow, nibabel and tifffile are
imported inside the functions that need them.
"""
from nnunetv2_s3mamba.conversion.datasets import (
    convert_cvc_clinicdb, convert_folders, convert_isic2018, convert_kvasir_seg, cvc_sequence_groups, match_pairs,
)
from nnunetv2_s3mamba.conversion.errors import ConversionError
from nnunetv2_s3mamba.conversion.nifti_slices import export_nifti_slices, reassemble_slices
from nnunetv2_s3mamba.conversion.raw_dataset import lesion_pixel_counts, split_raw_dataset
from nnunetv2_s3mamba.conversion.split import (
    SizeStrata, StratifiedSplit, assign_size_strata, draw_test_cases, load_strata_file,
    make_stratified_split, nnunet_folds, write_splits_final,
)
from nnunetv2_s3mamba.conversion.synthetic import make_synthetic_lesion_dataset
from nnunetv2_s3mamba.conversion.writer2d import CasePair, SplitOptions, write_2d_dataset

__all__ = [
    "CasePair", "ConversionError", "SizeStrata", "SplitOptions", "StratifiedSplit", "assign_size_strata",
    "convert_cvc_clinicdb", "convert_folders", "convert_isic2018", "convert_kvasir_seg", "cvc_sequence_groups",
    "draw_test_cases", "export_nifti_slices", "lesion_pixel_counts", "load_strata_file", "make_stratified_split",
    "make_synthetic_lesion_dataset", "match_pairs", "nnunet_folds", "reassemble_slices", "split_raw_dataset",
    "write_2d_dataset", "write_splits_final",
]
