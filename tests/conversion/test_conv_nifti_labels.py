"""nifti-slices on label maps with several classes, --binarize, bad label values, damaged and non-finite volumes."""
from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from conv_helpers import AFFINE, multiclass_source
from nnunetv2_s3mamba.cli import main
from nnunetv2_s3mamba.conversion import ConversionError, export_nifti_slices, reassemble_slices


def _label_slices(dataset, case):
    """z -> exported label slice of `case`, read back from labelsTr."""
    index = json.loads((dataset / "slice_index.json").read_text())
    return {z: np.asanyarray(nib.load(str(dataset / "labelsTr" / f"{s}.nii.gz")).dataobj)[:, :, 0]
            for s, z in index["cases"][case]["slices"].items()}


def test_every_class_survives_slicing_and_reassembly_voxel_exact(tmp_path):
    labels = multiclass_source(tmp_path / "src")
    out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 40, "Multi", show_progress=False)
    assert json.loads((out / "dataset.json").read_text())["labels"] == {"background": 0, "class_1": 1, "class_2": 2}
    for case, label in labels.items():
        for z, slice_ in _label_slices(out, case).items():
            np.testing.assert_array_equal(slice_, label[:, :, z])
    preds = tmp_path / "pred"
    shutil.copytree(out / "labelsTr", preds)
    reassemble_slices(preds, out / "slice_index.json", tmp_path / "vol", show_progress=False)
    for case, label in labels.items():
        np.testing.assert_array_equal(np.asanyarray(nib.load(str(tmp_path / "vol" / f"{case}.nii.gz")).dataobj), label)


def test_cli_label_names_and_binarize_merges_classes_into_label_gt_0(tmp_path, capsys):
    labels = multiclass_source(tmp_path / "src")
    common = ["convert", "nifti-slices", "-i", str(tmp_path / "src"), "-o", str(tmp_path / "raw"), "--no-progress"]
    assert main(common + ["-d", "41", "--name", "Named", "--label-names", "node,vessel"]) == 0
    named = json.loads((tmp_path / "raw/Dataset041_Named/dataset.json").read_text())["labels"]
    assert named == {"background": 0, "node": 1, "vessel": 2}
    assert main(common + ["-d", "42", "--name", "Binary", "--binarize"]) == 0
    out = tmp_path / "raw/Dataset042_Binary"
    assert json.loads((out / "dataset.json").read_text())["labels"] == {"background": 0, "class_1": 1}
    for case, label in labels.items():
        slices = _label_slices(out, case)
        assert sorted(slices) == list(range(6))
        for z, slice_ in slices.items():
            np.testing.assert_array_equal(slice_, (label[:, :, z] > 0).astype(np.uint8))
    assert main(common + ["-d", "43", "--name", "Short", "--label-names", "node"]) == 2
    assert "2 classes" in capsys.readouterr().err


def test_non_integer_labels_are_refused_naming_the_file(tmp_path):
    multiclass_source(tmp_path / "src")
    soft = np.zeros((12, 10, 6), np.float32)
    soft[2:4, 2:4, 2] = 0.5
    nib.Nifti1Image(soft, AFFINE).to_filename(str(tmp_path / "src/labelsTr/lnB.nii.gz"))
    for binarize in (False, True):
        with pytest.raises(ConversionError, match=r"lnB\.nii\.gz.*non-integer.*0\.5"):
            export_nifti_slices(tmp_path / "src", tmp_path / "raw", 44, "Soft", binarize=binarize,
                                show_progress=False)
    assert list((tmp_path / "raw").iterdir()) == []


def test_labels_0_255_are_refused_unless_binarize(tmp_path):
    labels = multiclass_source(tmp_path / "src", cases=("lnA",))
    mask = (labels["lnA"] > 0).astype(np.uint8) * 255
    nib.Nifti1Image(mask, AFFINE).to_filename(str(tmp_path / "src/labelsTr/lnA.nii.gz"))
    with pytest.raises(ConversionError, match="--binarize"):
        export_nifti_slices(tmp_path / "src", tmp_path / "raw", 45, "Wide", show_progress=False)
    out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 45, "Wide", binarize=True, show_progress=False)
    for z, slice_ in _label_slices(out, "lnA").items():
        np.testing.assert_array_equal(slice_, mask[:, :, z] // 255)


def test_truncated_volume_is_a_user_error_naming_the_file_and_leaves_nothing(tmp_path, capsys):
    multiclass_source(tmp_path / "src")
    image = tmp_path / "src/imagesTr/lnB_0000.nii.gz"
    image.write_bytes(image.read_bytes()[:-300])  # header readable, voxel data cut short
    code = main(["convert", "nifti-slices", "-i", str(tmp_path / "src"), "-o", str(tmp_path / "raw"), "-d", "46",
                 "--name", "Cut", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "lnB_0000.nii.gz" in err and "incomplete" in err
    assert list((tmp_path / "raw").iterdir()) == []


def test_nonfinite_image_voxels_are_refused_or_zeroed_with_a_warning(tmp_path):
    multiclass_source(tmp_path / "src")
    path = tmp_path / "src/imagesTr/lnA_0000.nii.gz"
    image = np.asanyarray(nib.load(str(path)).dataobj).copy()
    image[1, 1, 3], image[2, 2, 3] = np.nan, np.inf
    nib.Nifti1Image(image, AFFINE).to_filename(str(path))
    with pytest.raises(ConversionError, match=r"lnA.*lnA_0000\.nii\.gz.*2 NaN/inf.*--nonfinite zero"):
        export_nifti_slices(tmp_path / "src", tmp_path / "raw", 47, "Nan", show_progress=False)
    assert list((tmp_path / "raw").iterdir()) == []
    with pytest.warns(UserWarning, match="lnA_0000.nii.gz"):
        out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 47, "Nan", nonfinite="zero",
                                  show_progress=False)
    written = np.asanyarray(nib.load(str(out / "imagesTr/lnA_z003_0000.nii.gz")).dataobj)[:, :, 0]
    assert written[1, 1] == 0 and written[2, 2] == 0 and np.isfinite(written).all()
    np.testing.assert_array_equal(written[3:], image[3:, :, 3])


def test_reassemble_writes_no_volume_when_one_prediction_is_damaged(tmp_path):
    multiclass_source(tmp_path / "src")
    out = export_nifti_slices(tmp_path / "src", tmp_path / "raw", 48, "Pred", show_progress=False)
    preds = tmp_path / "pred"
    shutil.copytree(out / "labelsTr", preds)
    (preds / "lnB_z004.nii.gz").write_bytes(b"\x1f\x8b not a volume")
    (tmp_path / "vol").mkdir()
    with pytest.raises(ConversionError, match="lnB_z004.nii.gz"):
        reassemble_slices(preds, out / "slice_index.json", tmp_path / "vol", show_progress=False)
    assert list((tmp_path / "vol").iterdir()) == []
