"""SS2D's four directions, checked against a plain reading of VMamba's cross-scan: one scan per direction."""
import torch

from nnunetv2_s3mamba.ops import selective_scan
from nnunetv2_s3mamba.architectures.ss2d import SS2D


def _scan_one_direction(block: SS2D, k: int, u: torch.Tensor) -> torch.Tensor:
    """Direction k's own projections and SSM parameters on its sequence u (b, d, L)."""
    d, r, n = block.d_inner, block.dt_rank, block.d_state
    x_dbl = torch.einsum("bdl,cd->bcl", u, block.x_proj_weight[k])
    dts, B, C = torch.split(x_dbl, [r, n, n], dim=1)
    dts = torch.einsum("brl,dr->bdl", dts, block.dt_projs_weight[k])
    channels = slice(k * d, (k + 1) * d)
    return selective_scan(u, dts, -torch.exp(block.A_logs[channels]), B, C, block.Ds[channels],
                          delta_bias=block.dt_projs_bias[k], delta_softplus=True, backend="torch")


def test_directions_are_rows_columns_and_their_reversals():
    torch.manual_seed(0)
    block = SS2D(d_model=8, d_state=4, scan_backend="torch")
    b, h, w = 2, 5, 7
    x = torch.randn(b, h, w, block.d_inner, requires_grad=True)
    image = x.permute(0, 3, 1, 2)                                  # (b, d, h, w)
    rows = image.reshape(b, block.d_inner, h * w)                  # l = i * w + j
    cols = image.transpose(-1, -2).reshape(b, block.d_inner, h * w)  # l = j * h + i
    back_from_rows = lambda y: y.view(b, -1, h, w)
    back_from_cols = lambda y: y.view(b, -1, w, h).transpose(-1, -2)
    reference = (back_from_rows(_scan_one_direction(block, 0, rows))
                 + back_from_cols(_scan_one_direction(block, 1, cols))
                 + back_from_rows(_scan_one_direction(block, 2, rows.flip(-1)).flip(-1))
                 + back_from_cols(_scan_one_direction(block, 3, cols.flip(-1)).flip(-1)))
    out = block.scan_four_directions(x).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(reference)
    grads = torch.autograd.grad((out * weights).sum(), [x, block.x_proj_weight, block.A_logs])
    reference_grads = torch.autograd.grad((reference * weights).sum(), [x, block.x_proj_weight, block.A_logs])
    for grad, reference_grad in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-5)
