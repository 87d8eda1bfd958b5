"""SS2D's four directional selective scans as one Triton kernel that reads the directions in place.

With mamba-ssm, SS2D writes the image four times into direction-ordered sequences, scans them, and flips and
transposes the four outputs back before summing them. mamba-ssm runs one thread block per (batch, channel) that
splits the positions over its threads and, for each of the N states, runs a block-wide parallel scan with its
synchronisations; B and C are read again for every channel, and its backward adds every channel's share of dB and
dC with one atomic add per channel, state and position.

Here every tensor stays in pixel order, channels last, as the network holds it: a program scanning direction k
maps sequence position t to its pixel (`_pixel_of`), so there are no direction copies. A program owns one batch
element, one direction and a block of BLOCK_D channels, and holds their (BLOCK_D, N) fp32 state in registers. It
walks the positions one by one: h = exp(delta A) h + delta B u is one exp and two multiply-adds per state, with no
parallel-scan overhead and no synchronisation, and each B/C load serves BLOCK_D channels. The inputs of the next
position are loaded while the current one is computed, so their latency overlaps the arithmetic. There are as many
programs as (batch, direction, channel block), enough to fill a GPU at nnU-Net's batch sizes.

The forward keeps the state every CHECKPOINT positions. The backward walks the segments between checkpoints last
to first: it replays a segment forward once from its checkpoint, writing each position's state to a per-program
scratch (small enough to stay in cache), then walks it backwards with the adjoint recurrence
dh_t = C_t dy_t + exp(delta_{t+1} A) dh_{t+1}. Because exp(delta_t A) h_{t-1} = h_t - delta_t B_t u_t, the
gradients of delta and A need only h_t, one scratch read per position. dB and dC are summed over the program's
channels in registers, one store per program, state and position. dt's bias and softplus are applied as delta is
loaded. All arithmetic is fp32, whatever the input dtype.

Nothing is added with atomics: every output element and partial sum has one program that stores it (each
direction's y and u-gradient, each channel block's dB/dC, each batch element's dA/dD/dbias), and PyTorch sums
them, so training is reproducible run to run.

The launch, tiles and PyTorch operators around these kernels are in `triton_scan.py`.
"""
import triton
import triton.language as tl

__all__ = ["four_direction_scan_forward", "four_direction_scan_backward"]

LOG2E = tl.constexpr(1.4426950408889634)  # exp(x) = exp2(x * log2(e)): one special-function instruction


@triton.jit
def _pixel_of(t, k, H, W, L):
    """Pixel (row-major index) at position t of direction k: 0 rows, 1 columns, 2 and 3 the same reversed."""
    s = tl.where(k >= 2, L - 1 - t, t)
    return tl.where(k % 2 == 1, (s % H) * W + s // H, s)


@triton.jit
def _softplus(x):
    """softplus with mamba-ssm's threshold: linear above 20, where exp would only add rounding (or overflow)."""
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _load_position(u_row, dt_row, b_row, c_row, p, s_u_l, s_dt_l, s_b_l, s_c_l, dmask):
    """u and delta + bias's raw value (BLOCK_D,), B and C (N,) at pixel p, in fp32. Rows are pointer tensors to the
    program's channels (or states) at pixel 0 of its batch element and direction."""
    u = tl.load(u_row + p * s_u_l, mask=dmask, other=0.0).to(tl.float32)
    raw = tl.load(dt_row + p * s_dt_l, mask=dmask, other=0.0).to(tl.float32)
    bt = tl.load(b_row + p * s_b_l).to(tl.float32)
    ct = tl.load(c_row + p * s_c_l).to(tl.float32)
    return u, raw, bt, ct


@triton.jit
def _program_parameters(a_ptr, dskip_ptr, bias_ptr, D, DSTATE: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's batch element, direction k, channels d (and their mask), states n, and its channels' A
    (BLOCK_D, N), D and dt bias. Program axis 0 is (batch, direction), axis 1 the channel block."""
    batch = tl.program_id(0) // 4
    k = tl.program_id(0) % 4
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < D
    n = tl.arange(0, DSTATE)
    A = tl.load(a_ptr + (k * D + d)[:, None] * DSTATE + n[None, :], mask=dmask[:, None], other=0.0)
    skip = tl.load(dskip_ptr + k * D + d, mask=dmask, other=0.0)
    bias = tl.load(bias_ptr + k * D + d, mask=dmask, other=0.0)
    return batch, k, d, dmask, n, A, skip, bias


@triton.jit
def _input_rows(u_ptr, dt_ptr, b_ptr, c_ptr, batch, k, d, n, s_u_b, s_u_k, s_dt_b, s_dt_k, s_b_b, s_b_k, s_c_b,
                s_c_k):
    """Pointers to the program's channels of u and delta and to B and C, at pixel 0 of its batch element and
    direction (`_load_position` adds the pixel)."""
    return (u_ptr + batch * s_u_b + k * s_u_k + d, dt_ptr + batch * s_dt_b + k * s_dt_k + d,
            b_ptr + batch * s_b_b + k * s_b_k + n, c_ptr + batch * s_c_b + k * s_c_k + n)


@triton.jit
def four_direction_scan_forward(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, y_ptr, checkpoint_ptr, H, W,
                                L, D, n_checkpoints, s_u_b, s_u_l, s_u_k, s_dt_b, s_dt_l, s_dt_k, s_b_b, s_b_l,
                                s_b_k, s_c_b, s_c_l, s_c_k, DSTATE: tl.constexpr, BLOCK_D: tl.constexpr,
                                CHECKPOINT: tl.constexpr):
    batch, k, d, dmask, n, A, skip, bias = _program_parameters(a_ptr, dskip_ptr, bias_ptr, D, DSTATE, BLOCK_D)
    A2 = A * LOG2E
    u_row, dt_row, b_row, c_row = _input_rows(u_ptr, dt_ptr, b_ptr, c_ptr, batch, k, d, n, s_u_b, s_u_k, s_dt_b,
                                              s_dt_k, s_b_b, s_b_k, s_c_b, s_c_k)
    y_row = y_ptr + (batch * L * 4 + k) * D + d
    checkpoint_base = checkpoint_ptr + ((batch * 4 + k) * n_checkpoints * D + d[:, None]) * DSTATE + n[None, :]
    h = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    p_next = _pixel_of(0, k, H, W, L)
    u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l, s_b_l,
                                                      s_c_l, dmask)
    for t in range(L):
        if t % CHECKPOINT == 0:
            tl.store(checkpoint_base + (t // CHECKPOINT) * D * DSTATE, h, mask=dmask[:, None])
        p, u, raw, bt, ct = p_next, u_next, raw_next, b_next, c_next
        p_next = _pixel_of(tl.minimum(t + 1, L - 1), k, H, W, L)
        u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                          s_b_l, s_c_l, dmask)
        delta = _softplus(raw + bias)
        h = tl.exp2(delta[:, None] * A2) * h + (delta * u)[:, None] * bt[None, :]
        y = tl.sum(h * ct[None, :], 1) + skip * u
        tl.store(y_row + p * 4 * D, y.to(y_ptr.dtype.element_ty), mask=dmask)


@triton.jit
def four_direction_scan_backward(u_ptr, dt_ptr, b_ptr, c_ptr, a_ptr, dskip_ptr, bias_ptr, checkpoint_ptr,
                                 scratch_ptr, dy_ptr, du_ptr, ddt_ptr, db_ptr, dc_ptr, da_ptr, dskip_grad_ptr,
                                 dbias_ptr, H, W, L, D, n_checkpoints, s_u_b, s_u_l, s_u_k, s_dt_b, s_dt_l, s_dt_k,
                                 s_b_b, s_b_l, s_b_k, s_c_b, s_c_l, s_c_k, s_dy_b, s_dy_l, s_dy_k,
                                 DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, CHECKPOINT: tl.constexpr):
    batch, k, d, dmask, n, A, skip, bias = _program_parameters(a_ptr, dskip_ptr, bias_ptr, D, DSTATE, BLOCK_D)
    A2 = A * LOG2E
    d_block = tl.program_id(1)
    d_local = tl.arange(0, BLOCK_D)
    u_row, dt_row, b_row, c_row = _input_rows(u_ptr, dt_ptr, b_ptr, c_ptr, batch, k, d, n, s_u_b, s_u_k, s_dt_b,
                                              s_dt_k, s_b_b, s_b_k, s_c_b, s_c_k)
    dy_row = dy_ptr + batch * s_dy_b + k * s_dy_k + d
    grid_row = (batch * L * 4 + k) * D + d                  # du and ddt: (batch, L, 4, D), contiguous
    # This program's dB/dC partial sums: (channel block, batch, L, 4, N), summed over the blocks by PyTorch.
    bc_row = ((d_block * (tl.num_programs(0) // 4) + batch) * L * 4 + k) * DSTATE + n
    checkpoint_base = checkpoint_ptr + ((batch * 4 + k) * n_checkpoints * D + d[:, None]) * DSTATE + n[None, :]
    scratch_base = scratch_ptr + ((tl.program_id(0) * tl.num_programs(1) + d_block) * CHECKPOINT * BLOCK_D
                                  + d_local[:, None]) * DSTATE + n[None, :]
    carry = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)   # exp(delta_{t+1} A) dh_{t+1}
    da_acc = tl.zeros([BLOCK_D, DSTATE], dtype=tl.float32)
    dskip_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for reverse_segment in range(n_checkpoints):
        first = (n_checkpoints - 1 - reverse_segment) * CHECKPOINT
        count = tl.minimum(L - first, CHECKPOINT)
        # Replay the segment from its checkpoint, keeping every state in this program's scratch rows.
        h = tl.load(checkpoint_base + (first // CHECKPOINT) * D * DSTATE, mask=dmask[:, None], other=0.0)
        p_next = _pixel_of(first, k, H, W, L)
        u_next, raw_next, b_next, _ = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l, s_b_l,
                                                     s_c_l, dmask)
        tl.debug_barrier()   # the previous segment's reads of the scratch rows are done
        for j in range(count):
            u, raw, bt = u_next, raw_next, b_next
            p_next = _pixel_of(first + tl.minimum(j + 1, count - 1), k, H, W, L)
            u_next, raw_next, b_next, _ = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                         s_b_l, s_c_l, dmask)
            delta = _softplus(raw + bias)
            h = tl.exp2(delta[:, None] * A2) * h + (delta * u)[:, None] * bt[None, :]
            tl.store(scratch_base + j * BLOCK_D * DSTATE, h)
        tl.debug_barrier()   # the scratch rows are written before any thread reads them
        # Walk the segment backwards.
        p_next = _pixel_of(first + count - 1, k, H, W, L)
        u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                          s_b_l, s_c_l, dmask)
        dy_next = tl.load(dy_row + p_next * s_dy_l, mask=dmask, other=0.0).to(tl.float32)
        for reverse_j in range(count):
            j = count - 1 - reverse_j
            p, u, raw, bt, ct, dy = p_next, u_next, raw_next, b_next, c_next, dy_next
            p_next = _pixel_of(first + tl.maximum(j - 1, 0), k, H, W, L)
            u_next, raw_next, b_next, c_next = _load_position(u_row, dt_row, b_row, c_row, p_next, s_u_l, s_dt_l,
                                                              s_b_l, s_c_l, dmask)
            dy_next = tl.load(dy_row + p_next * s_dy_l, mask=dmask, other=0.0).to(tl.float32)
            h = tl.load(scratch_base + j * BLOCK_D * DSTATE)
            x = raw + bias
            delta = _softplus(x)
            delta_u = delta * u
            dh = dy[:, None] * ct[None, :] + carry
            tl.store(db_ptr + bc_row + p * 4 * DSTATE, tl.sum(dh * delta_u[:, None], 0))
            tl.store(dc_ptr + bc_row + p * 4 * DSTATE, tl.sum(h * dy[:, None], 0))
            dh_b = tl.sum(dh * bt[None, :], 1)
            # d(loss)/d(decay_t) * decay_t = dh_t * (h_t - drive_t), with decay_t = exp(delta_t A).
            z = dh * (h - delta_u[:, None] * bt[None, :])
            draw = (u * dh_b + tl.sum(z * A, 1)) * tl.sigmoid(x)   # softplus' = sigmoid
            da_acc += z * delta[:, None]
            dskip_acc += dy * u
            dbias_acc += draw
            tl.store(du_ptr + grid_row + p * 4 * D, (delta * dh_b + skip * dy).to(du_ptr.dtype.element_ty),
                     mask=dmask)
            tl.store(ddt_ptr + grid_row + p * 4 * D, draw.to(ddt_ptr.dtype.element_ty), mask=dmask)
            carry = tl.exp2(delta[:, None] * A2) * dh
    parameter_offset = batch * 4 * D + k * D + d
    tl.store(da_ptr + parameter_offset[:, None] * DSTATE + n[None, :], da_acc, mask=dmask[:, None])
    tl.store(dskip_grad_ptr + parameter_offset, dskip_acc, mask=dmask)
    tl.store(dbias_ptr + parameter_offset, dbias_acc, mask=dmask)
