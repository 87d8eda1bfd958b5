"""The no-grad inference scan: same values as the reference recurrence and the chunked training scan, chosen only
where no gradient is needed, and leaving the caller's thread setting as it found it."""
import pytest
import torch

from nnunetv2_s3mamba.architectures import S3MambaNet, selective_scan
from nnunetv2_s3mamba.ops import chunked_selective_scan
from nnunetv2_s3mamba.ops.inference_scan import inference_selective_scan
from test_ops_selective_scan import make_inputs, sequential_scan


def detached(dtype, **kwargs):
    return {k: v.detach() for k, v in make_inputs(dtype, **kwargs).items()}


@pytest.mark.parametrize("block_elements", [1, 200, 10 ** 6])
@pytest.mark.parametrize("groups", [4, 1])
def test_inference_scan_matches_sequential_in_float64(block_elements, groups):
    """Blocks of 1 step, of several steps not dividing the 45 steps, and one block for everything; B/C per group or
    shared. At float64 the result is the reference recurrence to rounding."""
    inputs = detached(torch.float64, groups=groups)
    if groups == 1:
        inputs["B"], inputs["C"] = inputs["B"][:, 0], inputs["C"][:, 0]
        ref = sequential_scan(**{**inputs, "B": inputs["B"][:, None], "C": inputs["C"][:, None]})
    else:
        ref = sequential_scan(**inputs)
    out = inference_selective_scan(**inputs, delta_softplus=True, block_elements=block_elements)
    assert out.shape == ref.shape and out.is_contiguous()
    assert ((out - ref).abs().max() / ref.abs().max()) < 1e-10


def test_inference_scan_without_bias_softplus_and_D_matches_chunked_scan():
    inputs = detached(torch.float64, length=70)
    delta = torch.nn.functional.softplus(inputs["delta"])
    ref = chunked_selective_scan(inputs["u"], delta, inputs["A"], inputs["B"], inputs["C"], None, 16)
    out = inference_selective_scan(inputs["u"], delta, inputs["A"], inputs["B"], inputs["C"], block_elements=100)
    assert ((out - ref).abs().max() / ref.abs().max()) < 1e-10


def test_selective_scan_takes_the_inference_path_only_where_no_gradient_is_needed(monkeypatch):
    monkeypatch.setenv("S3MAMBA_CPU_KERNEL", "0")  # the PyTorch inference scan; the compiled one: test_arch_cpu_kernel
    inputs = make_inputs(torch.float32, length=60)
    with torch.no_grad():
        fast = selective_scan(**inputs, delta_softplus=True, backend="torch")
    assert fast.grad_fn is None
    plain = {k: v.detach() for k, v in inputs.items()}
    torch.testing.assert_close(fast, inference_selective_scan(**plain, delta_softplus=True), rtol=0, atol=0)

    trained = selective_scan(**inputs, delta_softplus=True, backend="torch", chunk_size=16)
    assert trained.grad_fn is not None
    grads = torch.autograd.grad(trained.pow(2).sum(), list(inputs.values()))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    assert ((fast - trained.detach()).abs().max() / trained.abs().max()) < 1e-5


def test_inference_scan_restores_the_thread_count():
    torch.set_num_threads(2)  # the autouse fixture restores the original setting afterwards
    with torch.no_grad():
        selective_scan(**detached(torch.float32), delta_softplus=True, backend="torch")
    assert torch.get_num_threads() == 2


def test_network_inference_equals_the_training_path_forward():
    """The whole network in eval mode: no_grad (inference scan) against grad enabled (chunked autograd scan)."""
    torch.manual_seed(0)
    net = S3MambaNet(3, 2, dims=(8, 16, 32, 64), tcma_channels=4, tcma_mlp_hidden=8).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        fast = net(x)
    reference = net(x.requires_grad_(True))
    assert reference.grad_fn is not None
    assert ((fast - reference.detach()).abs().max() / reference.abs().max()) < 1e-4
