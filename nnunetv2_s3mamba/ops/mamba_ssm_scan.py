"""mamba-ssm's CUDA selective scan as PyTorch custom operators, so that torch.compile keeps the network in one graph.

Why: mamba-ssm's `selective_scan_fn` is an autograd Function around a C++ extension, which dynamo cannot trace.
Called from a compiled network it breaks the graph in every SS2D; each EnVSS block's remainder then compiles as a
frame of its own, the blocks' different widths and drop-path rates force one recompilation per block, and after
eight dynamo gives up and runs those frames eagerly, so compiling gains almost nothing (docs/log/).
Declared as operators with their output shapes (`register_fake`) and their gradient (`register_autograd`), the
kernel is one node of the compiled graph and everything around it compiles together.

The operators call the same two kernels as `selective_scan_fn` (`selective_scan_cuda.fwd` / `.bwd`) with the
same arguments, without z (SS2D gates outside the scan). `selective_scan` uses them under torch.compile only;
eager calls keep mamba-ssm's own Function.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mamba_scan", "KERNEL_CHUNK_LENGTH"]

# mamba-ssm's forward keeps the state at the end of every 2048 steps for its backward (selective_scan.cpp:
# n_chunks = (seqlen + 2047) / 2048, x = (batch, dim, n_chunks, 2 * dstate) in A's dtype).
KERNEL_CHUNK_LENGTH = 2048


def _kernels():
    import selective_scan_cuda  # mamba-ssm's compiled extension; present wherever selective_scan_fn imports
    return selective_scan_cuda


@torch.library.custom_op("s3mamba::mamba_scan_fwd", mutates_args=(), device_types="cuda")
def _scan_forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, delta_bias: Tensor,
                  delta_softplus: bool) -> tuple[Tensor, Tensor]:
    out, chunk_states, *_ = _kernels().fwd(u, delta, A, B, C, D, None, delta_bias, delta_softplus)
    return out, chunk_states


@_scan_forward.register_fake
def _(u, delta, A, B, C, D, delta_bias, delta_softplus):
    batch, dim, length = u.shape
    n_chunks = (length + KERNEL_CHUNK_LENGTH - 1) // KERNEL_CHUNK_LENGTH
    return torch.empty_like(delta), u.new_empty((batch, dim, n_chunks, 2 * A.shape[1]), dtype=A.dtype)


@torch.library.custom_op("s3mamba::mamba_scan_bwd", mutates_args=(), device_types="cuda")
def _scan_backward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, delta_bias: Tensor,
                   d_out: Tensor, chunk_states: Tensor, delta_softplus: bool
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    grads = _kernels().bwd(u, delta, A, B, C, D, None, delta_bias, d_out, chunk_states, None, None,
                           delta_softplus, False)
    return tuple(grads[:7])


@_scan_backward.register_fake
def _(u, delta, A, B, C, D, delta_bias, d_out, chunk_states, delta_softplus):
    return tuple(torch.empty_like(t) for t in (u, delta, A, B, C, D, delta_bias))


def _setup_context(ctx, inputs, output) -> None:
    u, delta, A, B, C, D, delta_bias, delta_softplus = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, output[1])
    ctx.delta_softplus = delta_softplus


def _backward(ctx, d_out: Tensor, _d_chunk_states: Tensor):
    u, delta, A, B, C, D, delta_bias, chunk_states = ctx.saved_tensors
    grads = _scan_backward(u, delta, A, B, C, D, delta_bias, d_out.contiguous(), chunk_states, ctx.delta_softplus)
    return (*grads, None)


_scan_forward.register_autograd(_backward, setup_context=_setup_context)


def mamba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
               delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """`selective_scan_fn(u, delta, A, B, C, D, None, delta_bias, delta_softplus)` through the custom operators.

    u, delta: (batch, dim, L), contiguous; B, C: (batch, N, L) or (batch, G, N, L), contiguous; A, D, delta_bias
    fp32. A missing D or delta_bias is a zero one (what the kernel does without them).
    """
    if B.dim() == 3:
        B = B.unsqueeze(1)
    if C.dim() == 3:
        C = C.unsqueeze(1)
    zeros = A.new_zeros(u.shape[1]) if D is None or delta_bias is None else None
    return _scan_forward(u, delta, A, B, C, zeros if D is None else D, zeros if delta_bias is None else delta_bias,
                         delta_softplus)[0]
