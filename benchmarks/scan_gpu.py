"""CUDA: our chunked torch selective scan against mamba-ssm's selective_scan_fn, forward and forward+backward.
Prints JSON; without CUDA (or without mamba_ssm for that column) it says so in the JSON and exits 0.

Sizes are one SS2D call of a stage with the four directions stacked: B, D = 4 * d_inner, N = 16, L = H*W.

    python benchmarks/scan_gpu.py [--batch 2] [--dim 768] [--lengths 4096 7680] [--steps 20] [--chunk-size 64]
"""
from __future__ import annotations

import argparse
import json
from typing import Callable, TypeVar

import torch

from nnunetv2_s3mamba.ops import scan_backend_report, selective_scan

T = TypeVar("T")


def cuda_ms_per_call(once: Callable[[], T], steps: int, warmup: int = 3) -> tuple[float, T]:
    """Mean milliseconds of `once()` over `steps` calls after `warmup`, timed by CUDA events, and its last result.
    Resets the peak-memory statistics after the warm-up, so `max_memory_allocated` afterwards covers the timed
    calls only."""
    for _ in range(warmup):
        once()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        result = once()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / steps, result


def time_backend(backend: str, inputs: list[torch.Tensor], steps: int, backward: bool, chunk: int) -> dict:
    u, delta, A, B, C, D, bias = inputs

    def once():
        y = selective_scan(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True, backend=backend,
                           chunk_size=chunk)
        if backward:
            y.sum().backward()
        return y

    ms, _ = cuda_ms_per_call(once, steps)
    return {"ms": round(ms, 3), "peak_mem_MB": round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--n-state", type=int, default=16)
    parser.add_argument("--lengths", nargs="+", type=int, default=[4096, 7680])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=64)
    args = parser.parse_args()
    report = {"benchmark": "scan_gpu", "backends": scan_backend_report()}
    if not torch.cuda.is_available():
        print(json.dumps({**report, "skipped": "no CUDA device"}, indent=1))
        return
    report["device"] = torch.cuda.get_device_name()
    backends = ["torch"] + (["mamba_ssm"] if report["backends"]["mamba_ssm_importable"] else [])
    results = []
    for length in args.lengths:
        g = torch.Generator(device="cuda").manual_seed(0)
        b, d, n, k = args.batch, args.dim, args.n_state, 4
        inputs = [torch.randn(b, d, length, device="cuda", generator=g),
                  torch.randn(b, d, length, device="cuda", generator=g) * 0.5,
                  -torch.rand(d, n, device="cuda", generator=g) * 4 - 0.5,
                  torch.randn(b, k, n, length, device="cuda", generator=g),
                  torch.randn(b, k, n, length, device="cuda", generator=g),
                  torch.randn(d, device="cuda", generator=g), torch.randn(d, device="cuda", generator=g) * 0.5]
        inputs = [t.requires_grad_(True) for t in inputs]
        outputs = {be: selective_scan(*inputs[:6], delta_bias=inputs[6], delta_softplus=True, backend=be,
                                      chunk_size=args.chunk_size).detach() for be in backends}
        row = {"L": length, "B": b, "D": d, "N": n}
        if len(outputs) == 2:
            row["max_abs_diff_torch_vs_mamba"] = (outputs["torch"] - outputs["mamba_ssm"]).abs().max().item()
        for be in backends:
            for backward in (False, True):
                row[f"{be}_{'fwd_bwd' if backward else 'fwd'}"] = time_backend(be, inputs, args.steps, backward,
                                                                             args.chunk_size)
        results.append(row)
    print(json.dumps({**report, "results": results}, indent=1))


if __name__ == "__main__":
    main()
