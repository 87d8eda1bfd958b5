"""3D NIfTI -> 2D slices -> reassembled volumes: traceable IDs, seeded empty-slice share, exact round trip."""
from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from nnunetv2_s3mamba.conversion import ConversionError, export_nifti_slices, reassemble_slices


def _volumes(root, layout="nnunet"):
    rng = np.random.default_rng(0)
    affine = np.array([[0.8, 0, 0, -10], [0, 0.8, 0, 5], [0, 0, 3.0, 20], [0, 0, 0, 1]])
    labels = {}
    for name in ("lnA", "lnB"):
        image = rng.normal(100, 20, (12, 10, 6)).astype(np.float32)
        label = np.zeros((12, 10, 6), np.uint8)
        label[3:6, 4:7, 1:3] = 1  # lesion on slices 1, 2; slices 0, 3, 4, 5 are empty
        labels[name] = label
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(exist_ok=True)
        file = f"{name}_0000.nii.gz" if layout == "nnunet" else f"{name}.nii.gz"
        nib.Nifti1Image(image, affine).to_filename(str(root / "imagesTr" / file))
        nib.Nifti1Image(label, affine).to_filename(str(root / "labelsTr" / f"{name}.nii.gz"))
    return affine, labels


@pytest.mark.parametrize("layout", ["nnunet", "msd"])
def test_slices_are_traceable_and_reassemble_to_the_original(tmp_path, layout):
    affine, labels = _volumes(tmp_path / "src", layout)
    out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 20, "Lymph", show_progress=False)
    index = json.loads((out / "slice_index.json").read_text())
    assert index["slices"]["lnB_z002"] == {"case": "lnB", "z": 2}
    assert len(list((out / "labelsTr").iterdir())) == 12
    one = nib.load(str(out / "imagesTr" / "lnA_z004_0000.nii.gz"))
    assert one.shape == (12, 10, 1)
    np.testing.assert_allclose(one.affine[:3, 3], affine[:3, :3] @ [0, 0, 4] + affine[:3, 3])
    # slice "predictions" = the exported labels; reassembly must give back the source labels and geometry
    preds = tmp_path / "pred"
    shutil.copytree(out / "labelsTr", preds)
    written = reassemble_slices(preds, out / "slice_index.json", tmp_path / "vol", show_progress=False)
    assert sorted(p.name for p in written) == ["lnA.nii.gz", "lnB.nii.gz"]
    for name, label in labels.items():
        volume = nib.load(str(tmp_path / "vol" / f"{name}.nii.gz"))
        np.testing.assert_array_equal(np.asanyarray(volume.dataobj), label)
        np.testing.assert_allclose(volume.affine, affine)


def test_keep_empty_fraction_is_seeded_and_missing_slices_are_reported(tmp_path):
    _volumes(tmp_path / "src")
    out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 21, "Lymph", keep_empty_fraction=0.5, seed=3,
                              show_progress=False)
    index = json.loads((out / "slice_index.json").read_text())
    for case in ("lnA", "lnB"):
        kept = sorted(index["cases"][case]["slices"].values())
        assert {1, 2} <= set(kept) and len(kept) == 4  # both lesion slices + 2 of 4 empty ones
    again = export_nifti_slices(tmp_path / "src", tmp_path / "raw2", 21, "Lymph", keep_empty_fraction=0.5, seed=3,
                                show_progress=False)
    assert json.loads((again / "slice_index.json").read_text())["slices"] == index["slices"]
    preds = tmp_path / "pred"
    shutil.copytree(out / "labelsTr", preds)
    volume = reassemble_slices(preds, out / "slice_index.json", tmp_path / "vol", show_progress=False)[0]
    assert np.asanyarray(nib.load(str(volume)).dataobj).sum() == 18  # dropped slices are background
    next(preds.glob("lnA_z001*")).unlink()
    with pytest.raises(ConversionError, match="lnA_z001"):
        reassemble_slices(preds, out / "slice_index.json", tmp_path / "vol2", show_progress=False)


def test_label_shape_mismatch_is_an_error_without_output(tmp_path):
    affine, _ = _volumes(tmp_path / "src")
    nib.Nifti1Image(np.zeros((12, 10, 5), np.uint8), affine).to_filename(str(tmp_path / "src/labelsTr/lnB.nii.gz"))
    with pytest.raises(ConversionError, match="must match"):
        export_nifti_slices(tmp_path / "src", tmp_path / "raw", 22, "Lymph", show_progress=False)
    assert list((tmp_path / "raw").iterdir()) == []
