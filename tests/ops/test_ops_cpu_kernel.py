"""The compiled CPU scan (cpu_scan_kernel.py): the reference recurrence's values, used by selective_scan for CPU
inference, and a clean fallback to the PyTorch scan where it is disabled, cannot be built or meets NaN."""
import os
import shutil

import pytest
import torch

from nnunetv2_s3mamba.ops import cpu_scan_kernel, selective_scan
from nnunetv2_s3mamba.ops.cpu_scan_kernel import (cpu_scan_kernel_status, kernel_selective_scan,
                                                            load_cpu_scan_kernel)
from nnunetv2_s3mamba.ops.inference_scan import inference_selective_scan
from test_ops_selective_scan import make_inputs, sequential_scan

needs_compiler = pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None,
                                    reason="needs a C++ compiler and ninja to build the kernel")


def detached(**kwargs):
    return {k: v.detach() for k, v in make_inputs(torch.float32, **kwargs).items()}


@needs_compiler
@pytest.mark.parametrize("length, groups, n_state", [(45, 4, 4), (200, 4, 16), (130, 1, 16), (70, 2, 5)])
def test_kernel_matches_the_reference_recurrence(length, groups, n_state):
    """Lengths below, above and not dividing the kernel's 64-step blocks; B/C per direction group or shared;
    S3-Mamba's 16 states (the kernel's compile-time path) and other counts (its general path)."""
    kernel = load_cpu_scan_kernel()
    assert kernel is not None, cpu_scan_kernel_status()
    inputs = detached(length=length, groups=groups, n_state=n_state)
    if groups == 1:
        inputs["B"], inputs["C"] = inputs["B"][:, 0], inputs["C"][:, 0]
        ref = sequential_scan(**{**inputs, "B": inputs["B"][:, None], "C": inputs["C"][:, None]})
    else:
        ref = sequential_scan(**inputs)
    out = kernel_selective_scan(kernel, **inputs, delta_softplus=True)
    assert ((out - ref).abs().max() / ref.abs().max()) < 1e-5


@needs_compiler
def test_kernel_without_bias_softplus_and_skip_term():
    kernel = load_cpu_scan_kernel()
    inputs = detached(length=70)
    delta = torch.nn.functional.softplus(inputs["delta"])
    ref = inference_selective_scan(inputs["u"], delta, inputs["A"], inputs["B"], inputs["C"])
    out = kernel_selective_scan(kernel, inputs["u"], delta, inputs["A"], inputs["B"], inputs["C"], None, None, False)
    assert ((out - ref).abs().max() / ref.abs().max()) < 1e-5


@needs_compiler
def test_selective_scan_uses_the_kernel_for_cpu_inference_and_the_pytorch_scan_for_nan():
    inputs = detached(length=90)
    kernel = load_cpu_scan_kernel()
    with torch.no_grad():
        out = selective_scan(**inputs, delta_softplus=True, backend="torch")
    torch.testing.assert_close(out, kernel_selective_scan(kernel, **inputs, delta_softplus=True), rtol=0, atol=0)
    assert cpu_scan_kernel_status().startswith("compiled for")
    inputs["delta"][0, 3, 50] = float("nan")  # fast math would not carry NaN reliably: the PyTorch scan must run
    with torch.no_grad():
        out = selective_scan(**inputs, delta_softplus=True, backend="torch")
    expected = inference_selective_scan(**inputs, delta_softplus=True)
    assert torch.isnan(out[0, 3, 50:]).all() and torch.equal(torch.isnan(out), torch.isnan(expected))


def test_disabled_or_unbuildable_kernel_falls_back_with_a_clear_warning(monkeypatch, tmp_path):
    inputs = detached(length=40)
    expected = inference_selective_scan(**inputs, delta_softplus=True)
    monkeypatch.setenv("S3MAMBA_CPU_KERNEL", "0")
    assert load_cpu_scan_kernel() is None and cpu_scan_kernel_status().startswith("disabled")
    monkeypatch.delenv("S3MAMBA_CPU_KERNEL")
    monkeypatch.setattr(cpu_scan_kernel, "SOURCE", tmp_path / "missing.cpp")
    cpu_scan_kernel._build.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="S3MAMBA_CPU_KERNEL=0"):
            assert load_cpu_scan_kernel() is None
        assert cpu_scan_kernel_status().startswith("build failed")
        with torch.no_grad():
            out = selective_scan(**inputs, delta_softplus=True, backend="torch")
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
    finally:
        cpu_scan_kernel._build.cache_clear()


def test_build_folder_is_per_pytorch_version_under_the_extension_root(monkeypatch, tmp_path):
    """PyTorch 2.14 keeps its lock file in the build folder; an older PyTorch sharing the folder would wait on it."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    folder = cpu_scan_kernel.build_directory_for("AVX2")
    assert folder.parent == tmp_path and folder.name.endswith("_avx2")
    assert torch.__version__.split("+")[0] in folder.name and "+" not in folder.name


def test_stale_build_lock_falls_back_instead_of_hanging(monkeypatch, tmp_path):
    """PyTorch before 2.14 waits forever on a lock file left by an interrupted build; we must not."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(cpu_scan_kernel, "_lock_file_blocks", lambda: True)  # as PyTorch 2.13 and older
    capability = torch.backends.cpu.get_cpu_capability()
    lock = cpu_scan_kernel.build_directory_for(capability) / "lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    an_hour_ago = lock.stat().st_mtime - 3600
    os.utime(lock, (an_hour_ago, an_hour_ago))
    cpu_scan_kernel._build.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="delete that file"):
            assert load_cpu_scan_kernel() is None
        assert str(lock) in cpu_scan_kernel_status() and lock.exists()  # reported, not deleted behind the user
        inputs = detached(length=40)
        with torch.no_grad():
            out = selective_scan(**inputs, delta_softplus=True, backend="torch")
        torch.testing.assert_close(out, inference_selective_scan(**inputs, delta_softplus=True), rtol=0, atol=0)
    finally:
        cpu_scan_kernel._build.cache_clear()
