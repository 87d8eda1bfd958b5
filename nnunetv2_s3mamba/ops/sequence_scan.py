"""The selective scan of Mamba (S6) on sequences, in the argument layout of mamba-ssm's `selective_scan_fn`.

Backends: mamba-ssm's CUDA kernel (`mamba_ssm_scan.py`) or ours in PyTorch (`reference_scan.py`, and on the CPU
without gradients `cpu_scan_kernel.py` / `inference_scan.py`). The recurrence always runs in fp32 with autocast
disabled: exp(delta * A) and the long recurrences overflow or lose all precision in fp16, the main source of NaN
losses reported for Mamba segmentation networks. Inputs may arrive in bf16 (SS2D under bf16 autocast): the CUDA
kernel then reads them as bf16 and converts each element to fp32 in its registers (half the memory traffic), the
PyTorch scan converts them up front.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from nnunetv2_s3mamba.ops.backends import import_mamba_kernel, scan_backend_in_graph
from nnunetv2_s3mamba.ops.cpu_scan_kernel import kernel_selective_scan, load_cpu_scan_kernel
from nnunetv2_s3mamba.ops.inference_scan import inference_selective_scan, one_intra_op_thread
from nnunetv2_s3mamba.ops.mamba_ssm_scan import mamba_scan
from nnunetv2_s3mamba.ops.precision import autocast_off
from nnunetv2_s3mamba.ops.reference_scan import DEFAULT_CHUNK_SIZE, chunked_selective_scan

__all__ = ["selective_scan"]


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, delta_bias: Optional[torch.Tensor] = None,
                   delta_softplus: bool = False, backend: Optional[str] = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """Selective scan with fp32 state, layout of mamba-ssm's `selective_scan_fn`; returns y (batch, dim, L).

    u, delta: (batch, dim, L). A: (dim, N), real and negative. B, C: (batch, N, L) shared by all channels, or
    (batch, G, N, L) with the channels split into G equal consecutive groups (SS2D: one group per scan direction).
    D, delta_bias: (dim,). `backend`: "auto" | "torch" | "mamba_ssm", None reads S3MAMBA_SCAN_BACKEND; "triton"
    is an error here (that kernel scans SS2D's four directions at once: `ss2d_selective_scan`).
    y is fp32, except where u, delta, B and C are all bf16 and the CUDA kernel runs: then the kernel computes in
    fp32 and stores y in bf16. The torch backend runs the chunked scan (`chunk_size`) where a gradient is needed.
    On the CPU without gradients (no_grad/inference_mode, or no input requires one) it runs the compiled CPU kernel
    (`cpu_scan_kernel.py`) on finite inputs, else the cheaper `inference_selective_scan` (not on a GPU: its one
    operation per step would mean thousands of kernel launches); all compute the same recurrence (tested to agree
    within float32 rounding).
    Under torch.compile the CUDA kernel runs as custom operators that the compiled graph contains
    (`mamba_ssm_scan.py`); the torch backend stays outside the graph, because its loops would unroll into a huge one.
    """
    _check_shapes(u, delta, A, B, C, D, delta_bias)
    A = A.float().contiguous()
    D = D.float().contiguous() if D is not None else None
    delta_bias = delta_bias.float().contiguous() if delta_bias is not None else None
    chosen = scan_backend_in_graph(backend, u.is_cuda)
    if chosen == "triton":
        raise ValueError("The 'triton' scan backend scans SS2D's four directions in one kernel and has no "
                         "single-sequence form: call nnunetv2_s3mamba.ops.ss2d_selective_scan, or choose 'torch' "
                         "or 'mamba_ssm' here.")
    if chosen != "mamba_ssm":
        return _torch_backend_scan(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)
    with autocast_off(u.device):
        io_dtype = torch.bfloat16 if all(t.dtype == torch.bfloat16 for t in (u, delta, B, C)) else torch.float32
        u, delta, B, C = (t.to(io_dtype).contiguous() for t in (u, delta, B, C))
        if torch.compiler.is_compiling():
            return mamba_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)
        kernel, _ = import_mamba_kernel()
        return kernel(u, delta, A, B, C, D, None, delta_bias, delta_softplus)


@torch.compiler.disable
def _torch_backend_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                        D: Optional[torch.Tensor], delta_bias: Optional[torch.Tensor], delta_softplus: bool,
                        chunk_size: int) -> torch.Tensor:
    """The "torch" backend of `selective_scan` (A, D and delta_bias already fp32; all in fp32, autocast off)."""
    with autocast_off(u.device):
        u, delta, B, C = u.float(), delta.float(), B.float(), C.float()
        needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                                     for t in (u, delta, A, B, C, D, delta_bias))
        if u.device.type == "cpu" and not needs_grad:
            kernel = load_cpu_scan_kernel()
            if kernel is not None and all(bool(torch.isfinite(t).all()) for t in (u, delta, B, C)):
                return kernel_selective_scan(kernel, u, delta, A, B, C, D, delta_bias, delta_softplus)
            with one_intra_op_thread():
                return inference_selective_scan(u, delta, A, B, C, D, delta_bias, delta_softplus)
        if delta_bias is not None:
            delta = delta + delta_bias[:, None]
        if delta_softplus:
            delta = F.softplus(delta)
        return chunked_selective_scan(u, delta, A, B, C, D, chunk_size)


def _check_shapes(u, delta, A, B, C, D, delta_bias) -> None:
    assert u.dim() == 3 and delta.shape == u.shape, \
        f"u and delta must both be (batch, dim, L); got u {tuple(u.shape)}, delta {tuple(delta.shape)}"
    batch, dim, length = u.shape
    assert A.dim() == 2 and A.shape[0] == dim, f"A must be (dim={dim}, N); got {tuple(A.shape)}"
    n_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        assert t.dim() in (3, 4) and t.shape[0] == batch and t.shape[-2:] == (n_state, length), \
            f"{name} must be (batch={batch}, N={n_state}, L={length}) or (batch, G, N, L); got {tuple(t.shape)}"
        assert t.dim() == 3 or dim % t.shape[1] == 0, \
            f"{name} has {t.shape[1]} groups, which do not divide the {dim} channels"
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        assert t is None or t.shape == (dim,), f"{name} must be ({dim},); got {tuple(t.shape)}"