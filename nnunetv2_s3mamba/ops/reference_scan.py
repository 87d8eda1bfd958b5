"""The reference selective scan in plain PyTorch, with a backward: what every fast path is tested against.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (per channel d and state n)
    y_t = sum_n C_t[n] * h_t[n] + D * u_t

It is linear in the sequence length in time and memory (mamba-ssm's own `selective_scan_ref` has a backward that
is quadratic in L) and runs anywhere, so CPU training, tests and machines without a GPU kernel work.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["chunked_selective_scan", "DEFAULT_CHUNK_SIZE"]

# Chosen by measurement (benchmarks/scan_cpu.py, docs/NETWORK.md): time is flat around sqrt(L) for L = 4096..7680.
DEFAULT_CHUNK_SIZE = 64


def chunked_selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                           D: Optional[torch.Tensor], chunk_size: int) -> torch.Tensor:
    """Pure-PyTorch selective scan, linear in L (delta already biased and softplus-ed; all fp32).

    The sequence is cut into chunks of T steps, and every loop step advances ALL chunks at once, so Python loops
    run about 2T + L/T times instead of L times (see _ChunkedScan). Nothing of size L x dim x N is kept for the
    backward pass: it recomputes the states from the chunk start states, as mamba-ssm's kernel does.
    """
    batch, dim, length = u.shape
    n_state = A.shape[1]
    groups = 1 if B.dim() == 3 else B.shape[1]
    B = B.view(batch, groups, n_state, length)
    C = C.view(batch, groups, n_state, length)
    chunk = max(1, min(chunk_size, length))
    n_chunks = -(-length // chunk)
    padded = n_chunks * chunk
    if padded != length:  # zero delta and input: padded steps neither decay nor feed the state, outputs are cropped
        pad = (0, padded - length)
        u, delta, B, C = F.pad(u, pad), F.pad(delta, pad), F.pad(B, pad), F.pad(C, pad)

    # Loop index (time within the chunk) first, so each step reads one contiguous block. These permuted copies
    # are small: per-channel terms have no N axis, B and C no channel axis.
    def per_channel(t: torch.Tensor) -> torch.Tensor:  # (T, batch, groups, dim/groups, chunks, 1)
        t = t.reshape(batch, groups, dim // groups, n_chunks, chunk)
        return t.permute(4, 0, 1, 2, 3).unsqueeze(-1).contiguous()

    def per_state(t: torch.Tensor) -> torch.Tensor:  # (T, batch, groups, 1, chunks, N)
        t = t.reshape(batch, groups, n_state, n_chunks, chunk)
        return t.permute(4, 0, 1, 3, 2).unsqueeze(3).contiguous()

    A_c = A.view(groups, dim // groups, 1, n_state)
    y = _ChunkedScan.apply(per_channel(delta), per_channel(delta * u), A_c, per_state(B), per_state(C))
    y = y.permute(1, 2, 3, 4, 0).reshape(batch, dim, padded)[..., :length]  # (T, b, g, d, c) -> (b, dim, L)
    if D is not None:
        y = y + D[:, None] * u[..., :length]
    return y


class _ChunkedScan(torch.autograd.Function):
    """h_t = exp(delta_t A) h_{t-1} + (delta u)_t B_t,  y_t = C_t . h_t, in the chunk-major layout above.

    Forward: (1) run the recurrence from a zero state inside every chunk and keep each chunk's end state;
    (2) carry the true state across chunk boundaries with each chunk's total decay exp(A * sum delta);
    (3) run the recurrence again from the true start states, reading y out at every step.
    Backward: recompute the states from the saved start states, then run the adjoint recurrence
    g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1} backwards in the same chunked way and read every gradient out of
    (g_t, h_{t-1}). Every exp has a non-positive argument (delta >= 0, A < 0): nothing overflows.
    """

    @staticmethod
    def forward(ctx, delta, delta_u, A, B, C):
        # exp(delta_t A) is recomputed per step in both passes: one (T, ..., N) tensor would cost more in fresh
        # memory than the second exp costs in arithmetic (measured, docs/NETWORK.md).
        n_chunks = delta.shape[4]
        start = delta.new_zeros(torch.broadcast_shapes(delta_u.shape[1:], B.shape[1:]))  # (b, g, d, c, N)
        if n_chunks > 1:
            end = delta_u[0] * B[0]
            for t in range(1, delta.shape[0]):
                end = torch.addcmul(delta_u[t] * B[t], torch.exp(delta[t] * A), end)
            ends, chunk_decays = end.unbind(-2), torch.exp(delta.sum(0) * A).unbind(-2)
            for c in range(1, n_chunks):
                torch.addcmul(ends[c - 1], chunk_decays[c - 1], start[..., c - 1, :], out=start[..., c, :])
        y = delta.new_empty(delta.shape[:-1])
        h = start
        for t in range(delta.shape[0]):
            h = torch.addcmul(delta_u[t] * B[t], torch.exp(delta[t] * A), h)
            torch.sum(h * C[t], dim=-1, out=y[t])
        ctx.save_for_backward(delta, delta_u, A, B, C, start)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        delta, delta_u, A, B, C, start = ctx.saved_tensors
        steps, n_chunks = delta.shape[0], delta.shape[4]
        channel_axis = 2  # of a step slice (batch, groups, dim/groups, chunks, N)
        dy = dy.unsqueeze(-1)
        # States and decays of every step (transient: freed when backward returns).
        states = torch.empty((steps,) + start.shape, dtype=start.dtype, device=start.device)
        decays = torch.empty_like(states)
        d_C = torch.empty_like(C)
        h = start
        for t in range(steps):
            torch.exp(delta[t] * A, out=decays[t])
            h = torch.addcmul(delta_u[t] * B[t], decays[t], h, out=states[t])
            torch.sum(dy[t] * h, dim=channel_axis, keepdim=True, out=d_C[t])

        # Adjoint flowing into each chunk's last step from the next chunk: exp(delta_0' A) * g_0'.
        inflow = torch.zeros_like(start)
        if n_chunks > 1:
            g = None
            for t in reversed(range(steps)):
                g = C[t] * dy[t] if g is None else torch.addcmul(C[t] * dy[t], decays[t + 1], g)
            local_first = g.unbind(-2)                                    # adjoint at step 0, zero inflow
            tail_decays = torch.exp(delta[1:].sum(0) * A).unbind(-2)       # decay over steps 1..T-1 of a chunk
            first_decays = decays[0].unbind(-2)
            for c in reversed(range(n_chunks - 1)):
                first_next = torch.addcmul(local_first[c + 1], tail_decays[c + 1], inflow[..., c + 1, :])
                torch.mul(first_decays[c + 1], first_next, out=inflow[..., c, :])

        d_delta = torch.empty_like(delta)
        d_delta_u = torch.empty_like(delta_u)
        d_B = torch.empty_like(B)
        d_A = torch.zeros_like(start)
        g = inflow
        for t in reversed(range(steps)):
            g = torch.addcmul(C[t] * dy[t], decays[t + 1], g) if t < steps - 1 else g + C[t] * dy[t]
            q = g * decays[t] * (states[t - 1] if t > 0 else start)     # dL/d(delta_t A), per channel and state
            torch.sum(q * A, dim=-1, keepdim=True, out=d_delta[t])
            d_A.addcmul_(q, delta[t])
            torch.sum(g * B[t], dim=-1, keepdim=True, out=d_delta_u[t])
            torch.sum(g * delta_u[t], dim=channel_axis, keepdim=True, out=d_B[t])
        d_A = d_A.sum(dim=(0, 3)).unsqueeze(-2)                           # (b, g, d, c, N) -> (g, d, 1, N)
        return d_delta, d_delta_u, d_A, d_B, d_C