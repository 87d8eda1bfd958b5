"""s3mamba analyze largest-component (analysis/largest_component.py): nnU-Net's keep-the-largest-component postprocessing on saved PNG predictions."""
import numpy as np
import pytest
from PIL import Image

from nnunetv2_s3mamba.analysis.largest_component import keep_largest_component, postprocess_folder


def _two_blobs() -> np.ndarray:
    seg = np.zeros((30, 30), np.uint8)
    seg[2:12, 2:12] = 1      # 100 px: kept
    seg[20:24, 20:24] = 1    # 16 px: removed
    seg[0, 29] = 1           # a speck, removed
    return seg


def test_only_the_largest_foreground_component_is_kept():
    seg = _two_blobs()
    out = keep_largest_component(seg)
    assert int(out.sum()) == 100 and out[5, 5] == 1 and out[21, 21] == 0 and out[0, 29] == 0
    assert int(seg.sum()) == 117                                  # the input is not modified
    assert not keep_largest_component(np.zeros((5, 5), np.uint8)).any()


def test_folder_is_written_under_the_same_names_and_the_input_is_never_overwritten(tmp_path):
    pred, out = tmp_path / "pred", tmp_path / "pp"
    pred.mkdir()
    Image.fromarray(_two_blobs()).save(pred / "cvc_001.png")
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(pred / "cvc_002.png")
    assert postprocess_folder(pred, out) == 2
    assert int((np.asarray(Image.open(out / "cvc_001.png")) > 0).sum()) == 100
    assert not np.asarray(Image.open(out / "cvc_002.png")).any()
    assert int((np.asarray(Image.open(pred / "cvc_001.png")) > 0).sum()) == 117
    with pytest.raises(ValueError, match="must differ"):
        postprocess_folder(pred, pred)
    with pytest.raises(FileNotFoundError, match="no .png predictions"):
        postprocess_folder(tmp_path / "pp" / "missing", tmp_path / "x")


def test_the_analyze_command_writes_the_postprocessed_folder(tmp_path, capsys):
    from nnunetv2_s3mamba.cli import main as s3mamba_main

    pred, out = tmp_path / "pred", tmp_path / "out"
    pred.mkdir()
    mask = np.zeros((12, 12), np.uint8)
    mask[1:4, 1:4] = 1
    mask[6:11, 6:11] = 1
    Image.fromarray(mask).save(pred / "a.png")
    assert s3mamba_main(["analyze", "largest-component", str(pred), str(out)]) == 0
    assert "1 predictions written" in capsys.readouterr().out
    kept = np.array(Image.open(out / "a.png"))
    assert kept.sum() == 25 and kept[1:4, 1:4].sum() == 0
