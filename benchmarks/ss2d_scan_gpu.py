"""CUDA: SS2D's four-direction scan, mamba-ssm (with the direction copies) against our Triton kernel's tile sizes.

Times `SS2D.scan_four_directions` forward + backward (gradients of the input and of every SS2D parameter) under
bf16 autocast, as training runs it, at the sizes of each `vmamba-s` stage for nnU-Net's CVC-ClinicDB plan (batch 26,
320x384: 80x96, 40x48, 20x24, 10x12 tokens), for the "mamba_ssm" backend and for the "triton" backend with each
tile configuration, with the peak memory of the timed calls and the largest difference of each output from
mamba-ssm's. `--baseline-kernel FILE` also times another version of `ops/triton_scan.py` (loaded from FILE, its
operators renamed) in the same run, with its default tiles or `--baseline-tiles` (in its TILE_KEYS order).
Prints JSON; without CUDA it says so and exits 0.

    python benchmarks/ss2d_scan_gpu.py [--batch 26] [--steps 10] [--d-state 16] [--ssm-ratio 2]
        [--tiles 16,32,1 32,64,1 ...] [--baseline-kernel OLD.py] [--baseline-tiles 4,8,1,1]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys

import torch

from nnunetv2_s3mamba.architectures import scan_backend_report
from nnunetv2_s3mamba.architectures.ss2d import SS2D
from scan_gpu import cuda_ms_per_call

STAGES = ((96, 80, 96), (192, 40, 48), (384, 20, 24), (768, 10, 12))  # (d_model, tokens high, tokens wide)
KERNEL_MODULE = "nnunetv2_s3mamba.ops.triton_scan"


def time_scan(block: SS2D, x: torch.Tensor, steps: int) -> tuple[dict, torch.Tensor]:
    """Milliseconds per forward + backward and peak GiB, and the forward's output."""
    parameters = [x] + list(block.parameters())

    def once() -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = block.scan_four_directions(x)
        torch.autograd.grad(y.float().sum(), parameters, allow_unused=True)
        return y

    base = torch.cuda.memory_allocated()
    ms, y = cuda_ms_per_call(once, steps)
    peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 30
    return {"ms": round(ms, 3), "peak_GiB": round(peak, 3)}, y.detach().float()


def load_baseline(path: str):
    """Another version of the kernel module, its custom operators renamed so that both can be registered."""
    source = open(path).read().replace('"s3mamba::', '"s3mamba_baseline::')
    spec = importlib.util.spec_from_loader("triton_scan_baseline", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = path
    sys.modules[spec.name] = module
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def parse_tiles(module, text: str) -> dict:
    """'16,32,1' -> {key: value} in the kernel module's TILE_KEYS order."""
    return dict(zip(module.TILE_KEYS, (int(v) for v in text.split(",")), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=26)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--ssm-ratio", type=float, default=2.0)
    parser.add_argument("--tiles", nargs="*", default=[],
                        help="tiles for the Triton kernel, its TILE_KEYS in order (default tiles first)")
    parser.add_argument("--baseline-kernel", help="another triton_scan.py to time in the same run")
    parser.add_argument("--baseline-tiles", help="tiles for the baseline kernel, its TILE_KEYS in order")
    args = parser.parse_args()
    report = {"benchmark": "ss2d_scan_gpu", "backends": scan_backend_report(), "batch": args.batch,
              "d_state": args.d_state, "ssm_ratio": args.ssm_ratio}
    if not torch.cuda.is_available():
        print(json.dumps({**report, "skipped": "no CUDA device"}, indent=1))
        return
    kernel = importlib.import_module(KERNEL_MODULE)  # imports triton
    baseline = load_baseline(args.baseline_kernel) if args.baseline_kernel else None
    if baseline is not None and args.baseline_tiles:
        baseline.TILES[args.d_state] = parse_tiles(baseline, args.baseline_tiles)
    default = kernel.tiles_for(args.d_state)
    report.update(device=torch.cuda.get_device_name(), default_tiles=default)
    rows = []
    for d_model, h, w in STAGES:
        torch.manual_seed(0)
        block = SS2D(d_model, d_state=args.d_state, ssm_ratio=args.ssm_ratio, scan_backend="mamba_ssm").cuda()
        x = torch.randn(args.batch, h, w, block.d_inner, device="cuda", requires_grad=True)
        row = {"d_model": d_model, "tokens": [h, w]}
        reference = None
        if report["backends"]["mamba_ssm_importable"]:
            row["mamba_ssm"], reference = time_scan(block, x, args.steps)
        block.scan_backend = "triton"

        def run(name: str) -> None:
            try:
                entry, y = time_scan(block, x, args.steps)
            except Exception as error:  # a tile that does not fit the GPU's registers or shared memory
                row[name] = f"{type(error).__name__}: {str(error)[:200]}"
                return
            if reference is not None:
                entry["max_abs_diff_vs_mamba_ssm"] = round((y - reference).abs().max().item(), 5)
            row[name] = entry

        if baseline is not None:
            sys.modules[KERNEL_MODULE] = baseline
            run("triton_baseline")
            sys.modules[KERNEL_MODULE] = kernel
        for tiles in [None] + args.tiles:
            if tiles is not None:
                kernel.TILES[args.d_state] = parse_tiles(kernel, tiles)
            run("triton_default" if tiles is None else f"triton_{tiles}")
            kernel.TILES[args.d_state] = dict(default)
        rows.append(row)
        del block, x
        torch.cuda.empty_cache()
    print(json.dumps({**report, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
