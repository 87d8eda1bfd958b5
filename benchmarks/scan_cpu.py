"""CPU time and peak memory of our torch selective scans against a plain sequential loop. Prints JSON.

Implementations: `torch_chunked` (the training scan, with autograd), `cpu_kernel` (the compiled no-gradient scan
used for CPU prediction, `cpu_scan_kernel.py`; forward only, built before timing), `torch_inference` (the PyTorch
no-gradient scan used where the kernel cannot be built; forward only) and `sequential_loop` (the recurrence step by
step).

Each (implementation, L, mode) case runs in its own subprocess so that its peak resident memory (ru_maxrss, minus
the process's RSS before the case) is its own. Sizes are one SS2D scan of a stage: B=1, D=192 channels, N=16.

    python benchmarks/scan_cpu.py [--lengths 4096 7680] [--dim 192] [--repeats 3] [--threads 2] [--chunk-sizes 64]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from nnunetv2_s3mamba.ops.cpu_scan_kernel import (cpu_scan_kernel_status, kernel_selective_scan,
                                                             load_cpu_scan_kernel)
from nnunetv2_s3mamba.ops import chunked_selective_scan
from nnunetv2_s3mamba.ops.inference_scan import inference_selective_scan

SCANS = {"torch_chunked": lambda inputs, chunk: chunked_selective_scan(*inputs, chunk),
         "cpu_kernel": lambda inputs, chunk: kernel_selective_scan(load_cpu_scan_kernel(), *inputs, None, False),
         "torch_inference": lambda inputs, chunk: inference_selective_scan(*inputs),
         "sequential_loop": lambda inputs, chunk: sequential_scan(*inputs)}


def sequential_scan(u, delta, A, B, C, D):
    """The recurrence step by step (unbind keeps its backward linear in L, unlike indexing in a loop)."""
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for u_t, d_t, b_t, c_t in zip(u.unbind(-1), delta.unbind(-1), B[:, 0].unbind(-1), C[:, 0].unbind(-1)):
        h = torch.exp(d_t[..., None] * A) * h + (d_t * u_t)[..., None] * b_t[:, None]
        ys.append((h * c_t[:, None]).sum(-1))
    return torch.stack(ys, -1) + D[:, None] * u


def run_case(impl: str, length: int, dim: int, n_state: int, mode: str, repeats: int, chunk: int) -> dict:
    g = torch.Generator().manual_seed(0)
    grad = mode == "forward_backward"
    inputs = [torch.randn(1, dim, length, generator=g), torch.rand(1, dim, length, generator=g) * 0.1,
              -torch.rand(dim, n_state, generator=g) - 0.5, torch.randn(1, 1, n_state, length, generator=g),
              torch.randn(1, 1, n_state, length, generator=g), torch.randn(dim, generator=g)]
    inputs = [t.requires_grad_(grad) for t in inputs]

    def once():
        with torch.set_grad_enabled(grad):
            y = SCANS[impl](inputs, chunk)
            if grad:
                y.sum().backward()

    if impl == "cpu_kernel" and load_cpu_scan_kernel() is None:
        raise SystemExit(f"the compiled CPU scan is not available: {cpu_scan_kernel_status()}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return {"impl": impl, "L": length, "D": dim, "N": n_state, "mode": mode,
            "chunk_size": chunk if impl == "torch_chunked" else None,
            "median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
            "peak_rss_increase_MB": round(peak_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", nargs="+", type=int, default=[4096, 7680])
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--n-state", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--chunk-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--case", nargs=4, metavar=("IMPL", "L", "MODE", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        impl, length, mode, chunk = args.case
        print(json.dumps(run_case(impl, int(length), args.dim, args.n_state, mode, args.repeats, int(chunk))))
        return
    results = []
    for length in args.lengths:
        for mode in ("forward", "forward_backward"):
            cases = [("torch_chunked", c) for c in args.chunk_sizes] + [("sequential_loop", 0)]
            if mode == "forward":
                cases[-1:-1] = [("cpu_kernel", 0), ("torch_inference", 0)]
            for impl, chunk in cases:
                cmd = [sys.executable, __file__, "--case", impl, str(length), mode, str(chunk), "--dim", str(args.dim),
                       "--n-state", str(args.n_state), "--repeats", str(args.repeats), "--threads", str(args.threads)]
                results.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
            seq = results[-1]["median_s"]
            for row in results[-len(cases):-1]:
                row["speedup_vs_sequential"] = round(seq / row["median_s"], 1)
    print(json.dumps({"benchmark": "scan_cpu", "torch": torch.__version__, "threads": args.threads,
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
