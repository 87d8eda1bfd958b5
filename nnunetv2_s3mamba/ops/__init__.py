"""The selective-scan kernels behind one dispatch: SS2D calls `ss2d_selective_scan`, which runs the backend
`resolve_scan_backend` picks (our Triton kernel, mamba-ssm's CUDA kernel, or our PyTorch reference scan with its
CPU inference kernel). `selective_scan` is the single-sequence scan in mamba-ssm's layout, `chunked_selective_scan`
the reference every fast path is tested against."""
from nnunetv2_s3mamba.ops.backends import (BACKEND_ENV_VAR, SCAN_BACKENDS, resolve_scan_backend,
                                           scan_backend_report)
from nnunetv2_s3mamba.ops.reference_scan import chunked_selective_scan
from nnunetv2_s3mamba.ops.sequence_scan import selective_scan
from nnunetv2_s3mamba.ops.ss2d_scan import ss2d_selective_scan

__all__ = ["ss2d_selective_scan", "selective_scan", "chunked_selective_scan", "resolve_scan_backend",
           "scan_backend_report", "SCAN_BACKENDS", "BACKEND_ENV_VAR"]
