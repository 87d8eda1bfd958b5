"""The "triton" backend: SS2D's four directions in one kernel (`ops/triton_scan.py`) against the PyTorch scan.

On a GPU the compiled kernels run; on the CPU Triton's interpreter runs the same kernel code (tests/conftest.py sets
TRITON_INTERPRET=1 there before anything imports triton).
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

scan_module = importlib.import_module("nnunetv2_s3mamba.ops.backends")
from nnunetv2_s3mamba.ops import resolve_scan_backend, selective_scan  # noqa: E402
from nnunetv2_s3mamba.architectures.ss2d import SS2D  # noqa: E402

pytestmark = pytest.mark.gpu

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


kernel = importlib.import_module("nnunetv2_s3mamba.ops.triton_scan")
kernel_tiles = kernel.tiles_for


@pytest.fixture
def kernel_module():
    if DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("on the CPU the kernels need Triton's interpreter, set up by tests/conftest.py")
    return kernel


def _pixels_of_direction(k: int, h: int, w: int) -> torch.Tensor:
    """Pixel index (row-major) at each position of direction k: rows, columns, then both reversed."""
    grid = torch.arange(h * w).view(h, w)
    order = grid.flatten() if k % 2 == 0 else grid.t().flatten()
    return order.flip(0) if k >= 2 else order


def _reference(u, delta, A, B, C, D, bias, h, w):
    """One PyTorch scan per direction on copies in that direction's order, summed back on the pixel grid."""
    d = u.shape[-1]
    y = torch.zeros(u.shape, dtype=torch.float32, device=u.device)
    for k in range(4):
        order = _pixels_of_direction(k, h, w).to(u.device)
        channels = slice(k * d, (k + 1) * d)
        y_k = selective_scan(u[:, order].transpose(1, 2), delta[:, order, k].transpose(1, 2), A[channels],
                             B[:, order, k].transpose(1, 2), C[:, order, k].transpose(1, 2), D[channels],
                             delta_bias=bias[channels], delta_softplus=True, backend="torch")
        y = y.index_add(1, order, y_k.transpose(1, 2))
    return y


def _inputs(b=2, h=3, w=5, d=6, n=4, dtype=torch.float32):
    length = h * w
    tensors = dict(u=torch.randn(b, length, d), delta=0.5 * torch.randn(b, length, 4, d),
                   A=-0.5 - torch.rand(4 * d, n), B=torch.randn(b, length, 4, n), C=torch.randn(b, length, 4, n),
                   D=torch.randn(4 * d), bias=0.3 * torch.randn(4 * d))
    return {name: (t.to(dtype) if name in ("u", "delta", "B", "C") else t).to(DEVICE).requires_grad_()
            for name, t in tensors.items()}


def _assert_matches_reference(t, h, w, tiles=None):
    y = kernel.four_direction_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], h, w,
                                   tiles=tiles)
    reference = _reference(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], h, w)
    torch.testing.assert_close(y, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(reference)
    grads = torch.autograd.grad((y * weights).sum(), list(t.values()))
    reference_grads = torch.autograd.grad((reference * weights).sum(), list(t.values()))
    for name, grad, reference_grad in zip(t, grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-5, msg=f"gradient of {name}")


# (batch, height, width, channels, states) x tiles. 3x5 and 5x3: columns differ from rows and neither side is even;
# a state saved at every position, every 4, 6 or 7 (a partial last segment, or none) or once (the default tiles on
# 28 positions): segments replayed in the backward; 6 channels in blocks of 4 and 3 channels in blocks of 2: a
# partial channel block; batch 1; one state (the fast preset's d_state).
KERNEL_CASES = [((2, 3, 5, 6, 4), dict(block_d=4, checkpoint=1)),
                ((2, 3, 5, 6, 4), dict(block_d=4, checkpoint=4)),
                ((1, 5, 3, 3, 4), dict(block_d=2, checkpoint=6)),
                ((1, 5, 3, 3, 1), dict(block_d=2, checkpoint=4)),
                ((2, 4, 7, 6, 16), dict(block_d=8, checkpoint=7)),
                ((2, 4, 7, 6, 16), None)]


@pytest.mark.parametrize("shape, tiles", KERNEL_CASES)
def test_kernel_equals_one_scan_per_direction_forward_and_gradients(kernel_module, shape, tiles):
    torch.manual_seed(0)
    b, h, w, d, n = shape
    _assert_matches_reference(_inputs(b, h, w, d, n), h, w, tiles)


@pytest.mark.parametrize("direction", range(4))
def test_each_direction_alone_equals_its_scan(kernel_module, direction):
    """The other three directions silenced (C and D zero): each direction's pixel order on its own."""
    torch.manual_seed(direction)
    t = _inputs(1, 3, 5, 6, 4)
    silent = torch.ones(4, dtype=torch.bool)
    silent[direction] = False
    with torch.no_grad():
        t["C"][:, :, silent] = 0
        t["D"].view(4, -1)[silent] = 0
    _assert_matches_reference(t, 3, 5, dict(block_d=4, checkpoint=4))


def test_gradients_are_the_same_in_every_run(kernel_module):
    """No atomics: two backward passes on the same inputs give bit-identical gradients."""
    torch.manual_seed(3)
    t = _inputs(2, 3, 5, 6, 4)
    tiles = dict(block_d=2, checkpoint=4)

    def gradients():
        y = kernel.four_direction_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], 3, 5, tiles)
        return torch.autograd.grad(y.square().sum(), list(t.values()))

    for first, second in zip(gradients(), gradients()):
        assert torch.equal(first, second)


def test_bf16_inputs_scan_in_fp32_and_return_bf16(kernel_module):
    torch.manual_seed(0)
    t = _inputs(dtype=torch.bfloat16)
    y = kernel.four_direction_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], 3, 5)
    assert y.dtype == torch.bfloat16
    reference = _reference(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], 3, 5)  # fp32 scan
    torch.testing.assert_close(y.float(), reference, rtol=1e-2, atol=2e-2)
    y.float().sum().backward()
    assert all(torch.isfinite(t[name].grad).all() for name in t)


def test_tiles_follow_the_state_size():
    assert kernel_tiles(4) == kernel_tiles(16)
    assert kernel_tiles(64)["block_d"] == kernel_tiles(16)["block_d"] // 4
    assert set(kernel_tiles(1)) == set(kernel_tiles(300)) == set(kernel.TILE_KEYS)


def test_ss2d_with_the_triton_backend_equals_the_torch_backend(kernel_module, monkeypatch):
    torch.manual_seed(1)
    block = SS2D(d_model=6, d_state=4, scan_backend="torch").to(DEVICE)   # d_inner 12 < one channel block
    x = torch.randn(2, 4, 3, block.d_inner, device=DEVICE, requires_grad=True)
    reference = block.scan_four_directions(x)
    block.scan_backend = "triton"
    out = block.scan_four_directions(x)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(reference)
    parameters = [x, block.x_proj_weight, block.dt_projs_weight, block.dt_projs_bias, block.A_logs, block.Ds]
    grads = torch.autograd.grad((out * weights).sum(), parameters)
    block.scan_backend = "torch"
    reference_grads = torch.autograd.grad((block.scan_four_directions(x) * weights).sum(), parameters)
    for grad, reference_grad in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-5)


def test_operators_pass_pytorchs_custom_operator_checks(kernel_module):
    """Schema, fake (meta) implementation, registered gradient and AOT dispatch of the forward operator, with
    strided B/C/delta slices of one projection output as SS2D passes them."""
    t = {k: v.detach() for k, v in _inputs().items()}
    projection = torch.cat([t["delta"], t["B"], t["C"]], dim=3).requires_grad_()   # (b, L, 4, d + 2n)
    d, n = t["u"].shape[-1], t["B"].shape[-1]
    delta, B, C = torch.split(projection, [d, n, n], dim=3)
    u4 = t["u"].requires_grad_().unsqueeze(2).expand(-1, -1, 4, -1)
    args = (u4, delta, B, C, t["A"], t["D"], t["bias"], 3, 5, 4, 4, 1)
    torch.library.opcheck(torch.ops.s3mamba.four_direction_scan_fwd.default, args)


def test_ss2d_with_the_triton_backend_is_one_graph_and_compiles_to_the_eager_result(kernel_module):
    """Dynamo sees the kernel as one operator: no graph break in SS2D (a break per SS2D costs a compiled network
    most of its gain, docs/BENCHMARKS.md); compiled forward and gradients equal the eager ones."""
    torch.manual_seed(2)
    block = SS2D(d_model=6, d_state=4, scan_backend="triton").to(DEVICE)
    x = torch.randn(2, 4, 3, 6, device=DEVICE, requires_grad=True)
    explanation = torch._dynamo.explain(block)(x)
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons
    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")
    eager_out, out = block(x), compiled(x)
    torch.testing.assert_close(out, eager_out, rtol=1e-5, atol=1e-5)
    eager_grad, grad = (torch.autograd.grad(y.square().sum(), x)[0] for y in (eager_out, out))
    torch.testing.assert_close(grad, eager_grad, rtol=1e-4, atol=1e-5)


def test_whole_network_is_one_graph_on_the_triton_branch(monkeypatch):
    """The whole network traced by dynamo on meta tensors (the operators' fake implementations run) with SS2D's
    Triton branch forced, as on a GPU without mamba-ssm: one graph, no break."""
    from nnunetv2_s3mamba.architectures import build_s3mamba
    monkeypatch.setattr(sys.modules["nnunetv2_s3mamba.ops.ss2d_scan"], "scan_backend_in_graph",
                        lambda backend, on_cuda: "triton")
    network = build_s3mamba("small", 3, 2, True).to("meta")
    explanation = torch._dynamo.explain(network)(torch.empty(2, 3, 64, 96, device="meta"))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons


def test_a_kernel_that_cannot_run_names_the_switch_to_the_pytorch_scan(kernel_module, monkeypatch):
    """auto picks the kernel on GPUs it never ran on: a failure there must tell the user how to carry on."""
    class Uncompilable:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise ValueError("unsupported instruction on this target")
            return launch

    monkeypatch.setattr(kernel_module, "four_direction_scan_forward", Uncompilable())
    t = _inputs()
    with pytest.raises(RuntimeError, match=r"S3MAMBA_SCAN_BACKEND=torch.*mamba-ssm") as caught:
        kernel_module.four_direction_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], 3, 5)
    assert "unsupported instruction" in str(caught.value)


def test_inconsistent_shapes_are_refused_with_the_shapes(kernel_module):
    t = _inputs()
    with pytest.raises(ValueError, match=r"u \(2, 15, 6\).*for a 5x5 image"):
        kernel_module.four_direction_scan(t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], t["bias"], 5, 5)


def test_auto_prefers_mamba_ssm_then_triton_then_torch_on_cuda_and_torch_elsewhere(monkeypatch):
    monkeypatch.delenv(scan_module.BACKEND_ENV_VAR, raising=False)
    monkeypatch.setattr(scan_module, "_triton_kernel_error", lambda device_index: None)
    monkeypatch.setattr(scan_module, "import_mamba_kernel", lambda: (object(), "2.3.2"))
    assert resolve_scan_backend("auto", on_cuda=True) == "mamba_ssm"
    monkeypatch.setattr(scan_module, "import_mamba_kernel", lambda: (None, "ImportError: no mamba_ssm"))
    assert resolve_scan_backend("auto", on_cuda=True) == "triton"
    assert resolve_scan_backend("auto", on_cuda=False) == "torch"
    monkeypatch.setattr(scan_module, "_triton_kernel_error", lambda device_index: "CompilationError: sm_60")
    assert resolve_scan_backend("auto", on_cuda=True) == "torch"
    monkeypatch.setattr(scan_module, "_triton_import_error", lambda: "ImportError: no triton")
    assert resolve_scan_backend("auto", on_cuda=True) == "torch"


def test_a_gpu_that_cannot_run_the_kernel_gets_the_pytorch_scan_with_a_warning_that_says_why(monkeypatch):
    import nnunetv2_s3mamba.ops.triton_scan as kernel

    def cannot_compile(device):
        raise RuntimeError("PTX .version 8.4 does not support .target sm_60")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(kernel, "smoke_test", cannot_compile)
    scan_module._triton_kernel_error.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"device 0 .*sm_60.*PyTorch scan.*mamba-ssm"):
            assert "sm_60" in scan_module._triton_kernel_error(0)
    finally:
        scan_module._triton_kernel_error.cache_clear()


def test_the_smoke_test_runs_both_kernels_also_when_called_under_inference_mode(kernel_module):
    kernel_module.smoke_test(torch.device(DEVICE))
    with torch.inference_mode():                 # where prediction's first scan asks for the backend
        kernel_module.smoke_test(torch.device(DEVICE))


def test_triton_backend_by_name_refuses_the_cpu_without_interpreter_and_a_missing_triton(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv(scan_module.BACKEND_ENV_VAR, raising=False)
    assert resolve_scan_backend("triton", on_cuda=True) == "triton"
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        resolve_scan_backend("triton", on_cuda=False)
    monkeypatch.setattr(scan_module, "_triton_import_error", lambda: "ImportError: no triton")
    with pytest.raises(RuntimeError, match="pip install triton"):
        resolve_scan_backend("triton", on_cuda=True)
    assert os.environ.get("TRITON_INTERPRET") is None


def test_the_sequence_scan_refuses_the_four_direction_backend_instead_of_running_another():
    inputs = {k: v.detach() for k, v in _inputs().items()}
    u, delta = inputs["u"].transpose(1, 2), inputs["delta"][:, :, 0].transpose(1, 2)
    B, C = inputs["B"][:, :, 0].transpose(1, 2), inputs["C"][:, :, 0].transpose(1, 2)
    with pytest.raises(ValueError, match="ss2d_selective_scan"):
        selective_scan(u, delta, inputs["A"][:6], B, C, backend="triton")


@pytest.mark.parametrize("arch", [90, 80])
@pytest.mark.parametrize("d_state", [16, 1])
def test_kernels_compile_for_the_gpu_with_the_default_tiles(arch, d_state):
    # The interpreter checks arithmetic, not that Triton can compile the kernels: this compiles them for an H100
    # (sm_90) and an A100 (sm_80) on any machine (Triton ships ptxas) with the default tiles and reads ptxas' report.
    # Spills are not asserted: they depend on the Triton version, and the tiles are chosen by their time on a GPU,
    # which a CPU cannot test.
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "ss2d_kernel_registers.py"
    result = subprocess.run([sys.executable, str(script), "--arch", str(arch), "--d-state", str(d_state)],
                            capture_output=True, text=True, env={**os.environ, "TRITON_INTERPRET": "0"}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout)["results"]
    assert row["tiles"] == ",".join(str(kernel.tiles_for(d_state)[key]) for key in kernel.TILE_KEYS)
    for name in ("forward", "backward"):
        assert 0 < row[name]["registers"] <= 255 and row[name]["spill_bytes"] >= 0, row
