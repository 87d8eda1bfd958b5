"""Parameters and FLOPs of each S3-Mamba preset (and its ablation variants) at given patch sizes. Prints JSON.

FLOPs come from torch.utils.flop_counter.FlopCounterMode, which counts matrix products and convolutions
(linear layers, convs, the SS2D x/dt projection einsums, TCMA's einsums) as 2 FLOPs per multiply-accumulate;
`macs` = flops / 2 (the number thop-style tables call "FLOPs"). It does not count element-wise work: the selective
scan's recurrence, norms, activations. The count runs on the meta device (shapes only), so it is exact and fast.

    python benchmarks/network_size.py [--sizes 256x256 320x384] [--classes 1 2] [--input-channels 3]
"""
from __future__ import annotations

import argparse
import json
import platform

import torch
from torch.utils.flop_counter import FlopCounterMode

from nnunetv2_s3mamba.architectures import S3MAMBA_PRESETS, build_s3mamba

VARIANTS = {"full": dict(use_encf=True, use_tcma=True), "baseline": dict(use_encf=False, use_tcma=False)}


def measure(preset: str, variant: str, input_channels: int, num_classes: int, size: tuple[int, int]) -> dict:
    net = build_s3mamba(preset, input_channels, num_classes, deep_supervision=False, **VARIANTS[variant]).eval()
    params = sum(p.numel() for p in net.parameters())
    net = net.to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.empty(1, input_channels, *size, device="meta"))
    flops = counter.get_total_flops()
    return {"preset": preset, "variant": variant, "input_channels": input_channels, "num_classes": num_classes,
            "size": list(size), "params": params, "params_M": round(params / 1e6, 3), "flops_G": round(flops / 1e9, 3),
            "macs_G": round(flops / 2e9, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256x256", "320x384"])
    parser.add_argument("--classes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--input-channels", type=int, default=3)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    rows = [measure(preset, variant, args.input_channels, classes, size)
            for preset in S3MAMBA_PRESETS for variant in VARIANTS for classes in args.classes for size in sizes]
    print(json.dumps({"benchmark": "network_size", "torch": torch.__version__, "machine": platform.machine(),
                      "counted": "FlopCounterMode: matmul/conv/einsum only, flops = 2 * macs, batch 1",
                      "results": rows}, indent=1))


if __name__ == "__main__":
    main()
