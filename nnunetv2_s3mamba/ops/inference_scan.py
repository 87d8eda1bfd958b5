"""The selective scan without autograd on the CPU: one pass instead of the reference scan's two.

Where the compiled CPU kernel (`cpu_scan_kernel.py`) cannot be built, CPU prediction runs this.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

__all__ = ["inference_selective_scan", "one_intra_op_thread", "INFERENCE_BLOCK_ELEMENTS"]

# Elements of one time block of the inference scan (2^18 floats = 1 MiB, about one core's L2 cache here): measured
# fastest among 2^16, 2^18 and 2^20 at the four stage sizes of a 320x384 tile (docs/BENCHMARKS.md, issue 6).
INFERENCE_BLOCK_ELEMENTS = 2 ** 18


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Run the CPU inference scan on one intra-op thread, then restore the caller's setting.

    The scan is thousands of small dependent operations, each below PyTorch's parallel grain: with several OpenMP
    threads on a busy machine every one of them waits for the other threads to be scheduled, many times the work
    itself (docs/log/benchmarks_history.md, issue 6).
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def inference_selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                             C: torch.Tensor, D: Optional[torch.Tensor] = None,
                             delta_bias: Optional[torch.Tensor] = None, delta_softplus: bool = False,
                             block_elements: int = INFERENCE_BLOCK_ELEMENTS) -> torch.Tensor:
    """The scan without autograd (fp32 inputs, `selective_scan`'s arguments): the same recurrence as
    `chunked_selective_scan`, in one pass instead of its forward's two, building nothing that a backward pass would
    need.

    Why it is cheaper: the chunked scan exists so that training can keep only chunk start states, and it pays for
    that with two passes (every exp(delta A) computed twice). Without a backward pass one sequential pass suffices.
    Time is cut into blocks of K steps whose (K, batch, N, dim) tensors fit in a core's L2 cache. Per block, the
    bias and softplus of delta, exp(delta A) and the inputs (delta u) B are computed for all K steps at once,
    straight from strided views of the (batch, dim, L) inputs (no full-size transposed copies, which cost page
    faults and cache misses on every call); the recurrence itself is one in-place `addcmul` per step (below
    PyTorch's parallel grain, so it never waits on OpenMP threads); y is read out of the block with one batched
    matmul, C_t (1 x N) times the states (N x dim). Two state buffers alternate, so the last state of one block is
    never overwritten by the next block.
    """
    batch, dim, length = u.shape
    n_state = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    per_group = dim // groups
    steps = max(1, min(length, block_elements // (batch * dim * n_state)))

    def time_major(t: torch.Tensor) -> torch.Tensor:  # (batch, dim, L) -> view (L, batch, groups, 1, dim/groups)
        return t.view(batch, groups, per_group, length).permute(3, 0, 1, 2).unsqueeze(3)

    delta_t, u_t = time_major(delta), time_major(u)
    B_t = B.reshape(batch, groups, n_state, length).permute(3, 0, 1, 2).unsqueeze(-1)             # (L, b, g, N, 1)
    C_t = C.reshape(batch, groups, n_state, length).permute(3, 0, 1, 2).unsqueeze(3)              # (L, b, g, 1, N)
    A_t = A.view(groups, per_group, n_state).transpose(1, 2).contiguous()                         # (g, N, d/g)
    bias = delta_bias.view(groups, 1, per_group) if delta_bias is not None else None

    y = u.new_empty(batch, groups, per_group, length)
    y_block = u.new_empty((steps, batch, groups, 1, per_group))
    delta_block = torch.empty_like(y_block)
    C_block = u.new_empty((steps, batch, groups, 1, n_state))
    decays = u.new_empty((steps, batch, groups, n_state, per_group))
    state_blocks = (torch.empty_like(decays), torch.empty_like(decays))
    h = u.new_zeros((batch, groups, n_state, per_group))
    for block, start in enumerate(range(0, length, steps)):
        end = min(start + steps, length)
        size = end - start
        d = delta_block[:size]
        if bias is not None:
            torch.add(delta_t[start:end], bias, out=d)
        else:
            d.copy_(delta_t[start:end])
        if delta_softplus:
            d = F.softplus(d)
        decay = torch.mul(d, A_t, out=decays[:size]).exp_().unbind(0)
        states = torch.mul(d.mul_(u_t[start:end]), B_t[start:end], out=state_blocks[block % 2][:size])
        for step, state in enumerate(states.unbind(0)):
            h = torch.addcmul(state, decay[step], h, out=state)   # h_t = exp(delta_t A) h_{t-1} + (delta u)_t B_t
        c = C_block[:size].copy_(C_t[start:end])
        y_out = y_block[:size]
        torch.bmm(c.view(-1, 1, n_state), states.view(-1, n_state, per_group), out=y_out.view(-1, 1, per_group))
        y[..., start:end].copy_(y_out.squeeze(3).permute(1, 2, 3, 0))
    y = y.view(batch, dim, length)
    if D is not None:
        y.addcmul_(u, D[:, None])
    return y
