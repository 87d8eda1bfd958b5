"""The selective scan under torch.compile: mamba-ssm's kernel as custom operators (ops/mamba_ssm_scan.py), and the dispatcher.

On the CPU the operators are checked with fake CUDA tensors (shapes and dtypes, as torch.compile traces them) and
with meta tensors (the autograd wiring: the engine runs backward without a GPU); on a GPU with mamba-ssm they are checked against mamba-ssm's own `selective_scan_fn`, and a
compiled SS2D must form a single graph and equal the eager one.
"""
import sys

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from nnunetv2_s3mamba.ops import selective_scan
from nnunetv2_s3mamba.ops.mamba_ssm_scan import KERNEL_CHUNK_LENGTH, mamba_scan
from nnunetv2_s3mamba.ops.precision import autocast_is_bf16, overflow_safe_autocast
from nnunetv2_s3mamba.ops.backends import scan_backend_in_graph
from test_ops_selective_scan import make_inputs

pytestmark = pytest.mark.gpu

needs_mamba = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA and mamba-ssm")


def _fake_inputs(length, io_dtype, groups, device="cuda"):
    batch, dim, n_state = 2, 8, 4
    shape_b = (batch, n_state, length) if groups is None else (batch, groups, n_state, length)
    inputs = dict(u=torch.empty(batch, dim, length, dtype=io_dtype), delta=torch.empty(batch, dim, length, dtype=io_dtype),
                  A=torch.empty(dim, n_state), B=torch.empty(shape_b, dtype=io_dtype),
                  C=torch.empty(shape_b, dtype=io_dtype), D=torch.empty(dim), delta_bias=torch.empty(dim))
    return {k: v.to(device).requires_grad_(True) for k, v in inputs.items()}


@pytest.mark.parametrize("length, io_dtype", [(300, torch.float32), (KERNEL_CHUNK_LENGTH + 1, torch.bfloat16)])
def test_forward_operator_has_the_kernels_output_layout_on_fake_cuda_tensors(length, io_dtype):
    with FakeTensorMode():
        inputs = _fake_inputs(length, io_dtype, groups=4)
        out, chunk_states = torch.ops.s3mamba.mamba_scan_fwd(*inputs.values(), True)
    # The kernel's layout: y like delta, one (2 x N) state per 2048 steps in A's dtype.
    assert out.shape == (2, 8, length) and out.dtype == io_dtype and out.device.type == "cuda"
    assert chunk_states.shape == (2, 8, -(-length // KERNEL_CHUNK_LENGTH), 8)
    assert chunk_states.dtype == torch.float32


@pytest.mark.parametrize("io_dtype, groups", [(torch.float32, 4), (torch.bfloat16, None)])
def test_gradients_reach_every_input_with_its_shape_and_dtype(io_dtype, groups):
    """Through register_autograd and the backward operator (meta tensors: no kernel runs); grouped B/C and the
    (batch, N, L) form that `mamba_scan` expands to one group."""
    inputs = _fake_inputs(300, io_dtype, groups, device="meta")
    y = mamba_scan(*inputs.values(), delta_softplus=True)
    assert y.shape == inputs["u"].shape and y.dtype == io_dtype
    grads = torch.autograd.grad(y.float().sum(), list(inputs.values()))
    for (name, tensor), grad in zip(inputs.items(), grads):
        assert grad.shape == tensor.shape and grad.dtype == tensor.dtype, name


def test_missing_D_and_delta_bias_are_zero_ones():
    inputs = _fake_inputs(64, torch.float32, 4, device="meta")
    y = mamba_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], None, None, False)
    grads = torch.autograd.grad(y.sum(), [inputs["u"], inputs["A"]])
    assert y.shape == inputs["u"].shape and grads[1].shape == inputs["A"].shape


def test_backend_choice_is_a_constant_of_the_compiled_graph():
    """The choice imports mamba-ssm and reads the environment, which dynamo cannot trace: without being a graph
    constant it would break every compiled graph at every scan."""
    def scaled(x):
        return x * len(scan_backend_in_graph(None, x.is_cuda))
    x = torch.ones(3)
    torch.testing.assert_close(torch.compile(scaled, fullgraph=True, backend="eager")(x), x * len("torch"))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_precision_islands_trace_into_one_graph(dtype):
    """SS2D's precision islands (`precision.py`) run inside the compiled graph under autocast; a helper dynamo
    cannot trace would break every compiled SS2D (torch 2.11 could not trace `torch.amp.is_autocast_available`)."""
    def island(x):
        with overflow_safe_autocast(x.device):
            return x @ x, autocast_is_bf16(x.device)
    x = torch.randn(4, 4)
    with torch.autocast("cpu", dtype=dtype):
        eager_out, eager_is_bf16 = island(x)
        out, is_bf16 = torch.compile(island, fullgraph=True, backend="eager")(x)
    assert is_bf16 == eager_is_bf16 == (dtype == torch.bfloat16)
    assert out.dtype == eager_out.dtype == (torch.bfloat16 if dtype == torch.bfloat16 else torch.float32)
    torch.testing.assert_close(out, eager_out)


@pytest.mark.parametrize("io_dtype", [torch.float32, torch.bfloat16])
def test_kernel_branch_of_the_dispatcher_is_one_graph(monkeypatch, io_dtype):
    """The dispatcher's CUDA-kernel branch (casts, autocast off, the custom operator) traced with fullgraph on meta
    tensors, where the operator runs its fake implementation; only the backend choice is forced, since on meta
    tensors it would pick the torch backend."""
    monkeypatch.setattr(sys.modules["nnunetv2_s3mamba.ops.sequence_scan"], "scan_backend_in_graph",
                        lambda backend, on_cuda: "mamba_ssm")
    inputs = _fake_inputs(300, io_dtype, groups=4, device="meta")
    out = torch.compile(selective_scan, fullgraph=True, backend="eager")(**inputs, delta_softplus=True)
    assert out.shape == inputs["u"].shape and out.dtype == io_dtype and out.device.type == "meta"


def test_whole_network_is_one_graph_on_the_kernel_branch(monkeypatch):
    """The whole network (TCMA, EnCF, drop path, deep supervision, the scan's operator) traced by dynamo on meta
    tensors with the CUDA-kernel branch forced, as on a GPU: no graph break, so no per-block recompilation.
    A break here cost the compiled training of the fifth GPU run most of its gain (docs/BENCHMARKS.md)."""
    from nnunetv2_s3mamba.architectures import build_s3mamba
    monkeypatch.setattr(sys.modules["nnunetv2_s3mamba.ops.sequence_scan"], "scan_backend_in_graph",
                        lambda backend, on_cuda: "mamba_ssm")
    network = build_s3mamba("small", 3, 2, True).to("meta")
    explanation = torch._dynamo.explain(network)(torch.empty(2, 3, 64, 96, device="meta"))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_dispatcher_equals_eager_with_gradients():
    """On the CPU the torch backend runs outside the compiled graph; results and gradients are the eager ones."""
    inputs = make_inputs(torch.float32, length=40)
    compiled = torch.compile(selective_scan, backend="aot_eager")
    eager_out = selective_scan(**inputs, delta_softplus=True)
    out = compiled(**inputs, delta_softplus=True)
    torch.testing.assert_close(out, eager_out)
    eager_grads = torch.autograd.grad(eager_out.square().sum(), list(inputs.values()))
    grads = torch.autograd.grad(out.square().sum(), list(inputs.values()))
    for g, eg in zip(grads, eager_grads):
        torch.testing.assert_close(g, eg)


@needs_mamba
@pytest.mark.parametrize("io_dtype", [torch.float32, torch.bfloat16])
def test_operators_equal_mamba_ssm_selective_scan_fn(io_dtype):
    selective_scan_fn = pytest.importorskip("mamba_ssm.ops.selective_scan_interface").selective_scan_fn
    inputs = make_inputs(torch.float32, length=KERNEL_CHUNK_LENGTH + 300, dim=16, groups=4, device="cuda")
    inputs = {k: (v.detach().to(io_dtype) if k in ("u", "delta", "B", "C") else v.detach()).requires_grad_(True)
              for k, v in inputs.items()}
    results = []
    for scan in (mamba_scan, lambda u, delta, A, B, C, D, delta_bias, delta_softplus:
                 selective_scan_fn(u, delta, A, B, C, D, None, delta_bias, delta_softplus)):
        out = scan(*inputs.values(), delta_softplus=True)
        results.append((out, torch.autograd.grad((out.float() * torch.cos(out.float())).sum(), list(inputs.values()))))
    (out, grads), (ref, ref_grads) = results
    torch.testing.assert_close(out, ref, rtol=0, atol=0)     # the same kernels with the same arguments
    # Not bit-identical: the backward kernel sums dB and dC over each group's channels with atomicAdd, whose order
    # changes from run to run (seen on an H100: dB differed between the two calls). Float rounding tolerances.
    for name, g, rg in zip(inputs, grads, ref_grads):
        torch.testing.assert_close(g, rg, msg=name)
    torch.library.opcheck(torch.ops.s3mamba.mamba_scan_fwd.default, (*inputs.values(), True))


@needs_mamba
def test_compiled_ss2d_is_one_graph_and_equals_eager():
    pytest.importorskip("mamba_ssm")
    from nnunetv2_s3mamba.architectures.ss2d import SS2D
    torch.manual_seed(0)
    block = SS2D(32).cuda()
    x = torch.randn(2, 24, 20, 32, device="cuda", requires_grad=True)
    explanation = torch._dynamo.explain(block)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(block, fullgraph=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager_out, out = block(x), compiled(x)
    torch.testing.assert_close(out.float(), eager_out.float(), rtol=2e-2, atol=2e-2 * eager_out.abs().max().item())
    eager_grad = torch.autograd.grad(eager_out.float().sum(), x)[0]
    grad = torch.autograd.grad(out.float().sum(), x)[0]
    torch.testing.assert_close(grad, eager_grad, rtol=2e-2, atol=2e-2 * eager_grad.abs().max().item())


@needs_mamba
def test_whole_network_compiles_without_graph_breaks():
    """No part of the network (TCMA, EnCF, drop path, deep supervision) breaks the graph either: one graph, no
    per-block recompilation."""
    pytest.importorskip("mamba_ssm")
    from nnunetv2_s3mamba.architectures import build_s3mamba
    network = build_s3mamba("small", 3, 2, True).cuda()
    explanation = torch._dynamo.explain(network)(torch.randn(2, 3, 64, 96, device="cuda"))
    assert explanation.graph_break_count == 0, explanation.break_reasons
