"""The torch selective scan against a plain sequential recurrence, and against mamba-ssm's kernel where present."""
import pytest
import torch

from nnunetv2_s3mamba.ops import scan_backend_report, selective_scan
from nnunetv2_s3mamba.ops import chunked_selective_scan, resolve_scan_backend


def sequential_scan(u, delta, A, B, C, D, delta_bias):
    """The recurrence written step by step: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t.h_t + D u_t."""
    delta = torch.nn.functional.softplus(delta + delta_bias[:, None])
    batch, dim, _ = u.shape
    groups = B.shape[1]
    B = B.repeat_interleave(dim // groups, dim=1)
    C = C.repeat_interleave(dim // groups, dim=1)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for u_t, d_t, b_t, c_t in zip(u.unbind(-1), delta.unbind(-1), B.unbind(-1), C.unbind(-1)):
        h = torch.exp(d_t[..., None] * A) * h + (d_t * u_t)[..., None] * b_t
        ys.append((h * c_t).sum(-1))
    return torch.stack(ys, -1) + D[:, None] * u


def make_inputs(dtype, length=45, batch=2, dim=8, n_state=4, groups=4, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    kw = dict(generator=g, dtype=dtype)
    tensors = dict(u=torch.randn(batch, dim, length, **kw), delta=torch.randn(batch, dim, length, **kw),
                   A=-torch.rand(dim, n_state, **kw) * 4 - 0.1, B=torch.randn(batch, groups, n_state, length, **kw),
                   C=torch.randn(batch, groups, n_state, length, **kw), D=torch.randn(dim, **kw),
                   delta_bias=torch.randn(dim, **kw) * 0.5)
    return {k: v.to(device).requires_grad_(True) for k, v in tensors.items()}


def assert_matches_sequential(run, dtype, tol):
    """`run(inputs)` must reproduce the sequential scan's output and all input gradients within `tol` (relative)."""
    inputs = make_inputs(dtype)
    ref = sequential_scan(**inputs)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), list(inputs.values()))
    out = run(inputs)
    grads = torch.autograd.grad(out.pow(2).sum(), list(inputs.values()))
    assert ((out - ref).abs().max() / ref.abs().max()) < tol
    for name, g, rg in zip(inputs, grads, ref_grads):
        assert ((g - rg).abs().max() / rg.abs().max()) < 10 * tol, name


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 64])
def test_chunked_scan_matches_sequential_in_float64(chunk_size):
    """The chunked algorithm itself is exact: at float64 it matches to rounding, for chunks smaller, not dividing
    and larger than the sequence (45 steps)."""
    def run(inputs):
        delta = torch.nn.functional.softplus(inputs["delta"] + inputs["delta_bias"][:, None])
        return chunked_selective_scan(inputs["u"], delta, inputs["A"], inputs["B"], inputs["C"], inputs["D"],
                                      chunk_size)
    assert_matches_sequential(run, torch.float64, 1e-10)


@pytest.mark.parametrize("chunk_size", [7, 64])
def test_public_torch_scan_matches_sequential_in_float32(chunk_size):
    def run(inputs):
        out = selective_scan(**inputs, delta_softplus=True, backend="torch", chunk_size=chunk_size)
        assert out.dtype == torch.float32
        return out
    assert_matches_sequential(run, torch.float32, 2e-4)


def test_torch_scan_shared_B_C_and_long_decay_stay_finite():
    """B/C without a group axis; very large step sizes (decay underflows to 0) must not give NaN/inf."""
    inputs = make_inputs(torch.float32, length=300, groups=1)
    inputs["B"] = inputs["B"][:, 0].detach()
    inputs["C"] = inputs["C"][:, 0].detach()
    big_delta = (inputs["delta"].detach() * 40).requires_grad_(True)
    out = selective_scan(inputs["u"], big_delta, inputs["A"], inputs["B"], inputs["C"], inputs["D"],
                         delta_bias=inputs["delta_bias"], delta_softplus=True, backend="torch", chunk_size=32)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(big_delta.grad).all()
    ref = sequential_scan(inputs["u"].detach(), big_delta.detach(), inputs["A"].detach(), inputs["B"][:, None],
                          inputs["C"][:, None], inputs["D"].detach(), inputs["delta_bias"].detach())
    torch.testing.assert_close(out.detach(), ref, rtol=1e-4, atol=1e-3)


def test_scan_runs_in_fp32_under_autocast():
    inputs = {k: v.detach() for k, v in make_inputs(torch.float32).items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = selective_scan(**{k: v.to(torch.bfloat16) for k, v in inputs.items()}, delta_softplus=True)
    assert out.dtype == torch.float32


def test_backend_selection_and_errors(monkeypatch):
    monkeypatch.setenv("S3MAMBA_SCAN_BACKEND", "torch")
    assert resolve_scan_backend(None, on_cuda=True) == "torch"
    assert scan_backend_report()["backend_on_cuda"] == "torch"
    monkeypatch.setenv("S3MAMBA_SCAN_BACKEND", "auto")
    assert resolve_scan_backend(None, on_cuda=False) == "torch"
    monkeypatch.setenv("S3MAMBA_SCAN_BACKEND", "cuda-fast")
    with pytest.raises(ValueError, match="S3MAMBA_SCAN_BACKEND"):
        resolve_scan_backend(None, on_cuda=False)
    with pytest.raises(RuntimeError, match="CPU|cannot be imported"):
        resolve_scan_backend("mamba_ssm", on_cuda=False)
    report = scan_backend_report()
    assert {"mamba_ssm_importable", "cuda_available", "backend_on_cpu", "backend_on_cuda"} <= set(report)
    assert report["backend_on_cpu"].startswith("error")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_scan_matches_mamba_ssm_kernel():
    pytest.importorskip("mamba_ssm")
    inputs = make_inputs(torch.float32, length=300, dim=16, groups=4, device="cuda")
    outs, grads = [], []
    for backend in ("torch", "mamba_ssm"):
        out = selective_scan(**inputs, delta_softplus=True, backend=backend)
        outs.append(out)
        grads.append(torch.autograd.grad((out * torch.cos(out)).sum(), list(inputs.values())))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    for name, g0, g1 in zip(inputs, *grads):
        torch.testing.assert_close(g0, g1, rtol=1e-3, atol=1e-3 * g1.abs().max().item(), msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mamba_ssm_kernel_reads_bf16_inputs_and_keeps_fp32_state():
    """SS2D under bf16 autocast hands the kernel bf16 u/delta/B/C: the result must equal the fp32 scan of the same
    (bf16-rounded) values up to the bf16 rounding of the stored output, not drift like a bf16 recurrence."""
    pytest.importorskip("mamba_ssm")
    inputs = {k: v.detach() for k, v in make_inputs(torch.float32, length=2048, dim=16, groups=4, device="cuda").items()}
    io = {k: (v.to(torch.bfloat16) if k in ("u", "delta", "B", "C") else v) for k, v in inputs.items()}
    out = selective_scan(**io, delta_softplus=True, backend="mamba_ssm")
    reference = selective_scan(**{k: v.float() for k, v in io.items()}, delta_softplus=True, backend="torch")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference, rtol=1e-2, atol=1e-2 * reference.abs().max().item())
