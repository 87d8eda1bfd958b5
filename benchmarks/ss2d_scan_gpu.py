"""CUDA: SS2D's four-direction scan, mamba-ssm (with the direction copies) against our Triton kernel's tile sizes.

Times `SS2D.scan_four_directions` forward + backward (gradients of the input and of every SS2D parameter) under
bf16 autocast, as training runs it, at the sizes of each `vmamba-s` stage for nnU-Net's CVC-ClinicDB plan (batch 26,
320x384: 80x96, 40x48, 20x24, 10x12 tokens), for the "mamba_ssm" backend and for the "triton" backend with each
tile configuration. Also the largest difference of each output from mamba-ssm's. Prints JSON; without CUDA it
says so and exits 0.

    python benchmarks/ss2d_scan_gpu.py [--batch 26] [--steps 10] [--tiles 8,32,4 16,32,8 ...]
"""
from __future__ import annotations

import argparse
import json

import torch

from nnunetv2_s3mamba.architectures import scan_backend_report
from nnunetv2_s3mamba.architectures.ss2d import SS2D
from scan_gpu import cuda_ms_per_call

STAGES = ((96, 80, 96), (192, 40, 48), (384, 20, 24), (768, 10, 12))  # (d_model, tokens high, tokens wide)
DEFAULT_TILES = ("4,8,1", "8,8,1", "8,4,1", "4,8,2", "4,16,2", "4,32,4")  # the fastest of the H200 sweep


def time_scan(block: SS2D, x: torch.Tensor, steps: int) -> tuple[float, torch.Tensor]:
    """Milliseconds per forward + backward, and the forward's output."""
    parameters = [x] + list(block.parameters())

    def once() -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = block.scan_four_directions(x)
        torch.autograd.grad(y.float().sum(), parameters, allow_unused=True)
        return y

    ms, y = cuda_ms_per_call(once, steps)
    return ms, y.detach().float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=26)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tiles", nargs="+", default=list(DEFAULT_TILES),
                        help="block_d,chunk,num_warps triples for the Triton kernel")
    args = parser.parse_args()
    report = {"benchmark": "ss2d_scan_gpu", "backends": scan_backend_report(), "batch": args.batch}
    if not torch.cuda.is_available():
        print(json.dumps({**report, "skipped": "no CUDA device"}, indent=1))
        return
    from nnunetv2_s3mamba.architectures import ss2d_scan_kernel  # imports triton

    report["device"] = torch.cuda.get_device_name()
    rows = []
    for d_model, h, w in STAGES:
        torch.manual_seed(0)
        block = SS2D(d_model, scan_backend="mamba_ssm").cuda()
        x = torch.randn(args.batch, h, w, block.d_inner, device="cuda", requires_grad=True)
        row = {"d_model": d_model, "tokens": [h, w]}
        if report["backends"]["mamba_ssm_importable"]:
            row["mamba_ssm_ms"], reference = time_scan(block, x, args.steps)
        else:
            reference = None
        block.scan_backend = "triton"
        for tiles in args.tiles:
            block_d, chunk, num_warps = (int(v) for v in tiles.split(","))
            ss2d_scan_kernel.TILES.update(block_d=block_d, chunk=chunk, num_warps=num_warps)
            try:
                ms, y = time_scan(block, x, args.steps)
            except Exception as error:  # a tile that does not fit the GPU's registers or shared memory
                row[f"triton_{tiles}"] = f"{type(error).__name__}: {str(error)[:200]}"
                continue
            entry = {"ms": round(ms, 3)}
            if reference is not None:
                entry["max_abs_diff_vs_mamba_ssm"] = (y - reference).abs().max().item()
            row[f"triton_{tiles}"] = entry
        if "mamba_ssm_ms" in row:
            row["mamba_ssm_ms"] = round(row["mamba_ssm_ms"], 3)
        rows.append(row)
    print(json.dumps({**report, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
