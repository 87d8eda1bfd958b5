"""Which parts leave the autocast dtype: fp32 islands under fp16, bf16 kept under bf16 (precision.py)."""
import pytest
import torch

from nnunetv2_s3mamba.ops.precision import autocast_is_bf16, overflow_safe_autocast
from nnunetv2_s3mamba.architectures.ss2d import SS2D

CPU = torch.device("cpu")


@pytest.mark.parametrize("dtype, expected", [(torch.bfloat16, torch.bfloat16), (torch.float16, torch.float32),
                                             (None, torch.float32)])
def test_overflow_safe_autocast_keeps_bf16_and_leaves_fp16(dtype, expected):
    a, b = torch.randn(4, 8), torch.randn(8, 4)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        assert autocast_is_bf16(CPU) == (dtype == torch.bfloat16)
        with overflow_safe_autocast(CPU):
            assert (a @ b).dtype == expected


def test_ss2d_projections_follow_the_autocast_dtype():
    """Under bf16 the x/dt projections run in bf16 (tensor cores on a GPU); under fp16 they run in fp32, where
    fp16's 65504 limit would overflow the inputs of exp/softplus. The output agrees with fp32 to bf16 precision."""
    torch.manual_seed(0)
    block = SS2D(d_model=16, scan_backend="torch")
    x = torch.randn(2, 6, 5, 2 * 16)
    seen = []
    original = torch.einsum

    def recording_einsum(equation, *operands):
        out = original(equation, *operands)
        seen.append(out.dtype)
        return out

    with torch.no_grad():
        reference = block.scan_four_directions(x)
        torch.einsum = recording_einsum
        try:
            for dtype in (torch.bfloat16, torch.float16):
                with torch.autocast("cpu", dtype=dtype):
                    out = block.scan_four_directions(x.to(dtype))
                if dtype == torch.bfloat16:
                    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.05 * reference.abs().max().item())
        finally:
            torch.einsum = original
    assert seen == [torch.bfloat16, torch.bfloat16, torch.float32, torch.float32]
