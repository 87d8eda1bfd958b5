"""Training-step and inference-tile time of the S3-Mamba presets against nnU-Net's PlainConvUNet. Prints JSON.

The U-Net is nnU-Net's 2D plan for CVC-ClinicDB: 7 stages, features 32..512, strides [1,2,2,2,2,2,2], 3x3
kernels, instance norm, leaky ReLU, deep supervision. Training step = forward with deep supervision, cross-entropy
summed over the outputs (targets nearest-downsampled to each output), backward, optimiser step; fp16 autocast with a
GradScaler on CUDA (fp32 on CPU). Inference tile = one patch, batch 1, deep supervision off, no grad.

    python benchmarks/network_gpu.py [--batch 26] [--patch 320 384] [--steps 10] [--presets vmamba-s small]
    python benchmarks/network_gpu.py --batch 2 --patch 128 128 --steps 1 --warmup 1 --unet-features 8 --presets small
        (a CPU smoke run: every network once, tiny)
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.architectures import build_s3mamba, scan_backend_report


VARIANTS = {"full": dict(use_encf=True, use_tcma=True), "no_tcma": dict(use_encf=True, use_tcma=False),
            "no_encf": dict(use_encf=False, use_tcma=True), "baseline": dict(use_encf=False, use_tcma=False)}


def plain_conv_unet(input_channels: int, num_classes: int, base_features: int) -> nn.Module:
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    n_stages = 7
    features = [min(base_features * 2 ** i, 16 * base_features) for i in range(n_stages)]
    return PlainConvUNet(input_channels, n_stages, features,
                         nn.Conv2d, 3, [1, 2, 2, 2, 2, 2, 2], 2, num_classes, 2, conv_bias=True,
                         norm_op=nn.InstanceNorm2d, norm_op_kwargs={"eps": 1e-5, "affine": True},
                         nonlin=nn.LeakyReLU, nonlin_kwargs={"inplace": True}, deep_supervision=True)


def set_deep_supervision(net: nn.Module, enabled: bool) -> None:
    if hasattr(net, "decoder") and hasattr(net.decoder, "deep_supervision"):
        net.decoder.deep_supervision = enabled
    else:
        net.deep_supervision = enabled


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name: str, net: nn.Module, args, device: torch.device) -> dict:
    net = net.to(device)
    amp = device.type == "cuda"
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4) if name != "PlainConvUNet" else \
        torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    x = torch.randn(args.batch, args.input_channels, *args.patch, device=device)
    target = torch.randint(0, args.classes, (args.batch, 1, *args.patch), device=device).float()

    def train_step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            outputs = net(x)
            loss = sum(F.cross_entropy(o.float(), F.interpolate(target, size=o.shape[-2:], mode="nearest")[:, 0].long())
                       for o in outputs)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.item()

    set_deep_supervision(net, True)
    net.train()
    for _ in range(args.warmup):
        train_step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step()
    synchronize(device)
    train_ms = (time.perf_counter() - start) / args.steps * 1000
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda" else None
    profile = top_ops(train_step, device) if args.profile else None

    set_deep_supervision(net, False)
    net.eval()
    tile = x[:1]
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        for _ in range(args.warmup):
            net(tile)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            net(tile)
        synchronize(device)
    tile_ms = (time.perf_counter() - start) / args.steps * 1000
    params = sum(p.numel() for p in net.parameters())
    return {"network": name, "profile_top_ops": profile, "params_M": round(params / 1e6, 3),
            "train_step_ms": round(train_ms, 1), "inference_tile_ms": round(tile_ms, 1),
            "train_peak_mem_GiB": round(peak, 2) if peak is not None else None}


def top_ops(train_step, device: torch.device) -> list[dict]:
    """The ops with the most self time on the device (CPU time on a CPU run) over 3 training steps."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            train_step()
        synchronize(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events)
    return [{"op": e.key[:80], "ms_per_step": round(getattr(e, key) / 3000, 2),
             "share": round(getattr(e, key) / total, 3)} for e in events[:15]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=26)
    parser.add_argument("--patch", type=int, nargs=2, default=[320, 384])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--presets", nargs="*", default=["vmamba-s", "small"])
    parser.add_argument("--variants", nargs="+", default=["full"], choices=sorted(VARIANTS),
                        help="ablation switches to time for each preset")
    parser.add_argument("--profile", action="store_true",
                        help="add the 15 ops with the most device time over 3 training steps of each network")
    parser.add_argument("--no-unet", action="store_true", help="skip nnU-Net's PlainConvUNet")
    parser.add_argument("--unet-features", type=int, default=32, help="first-stage features of the U-Net (plan: 32)")
    parser.add_argument("--input-channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    results = []
    if not args.no_unet:
        results.append(measure("PlainConvUNet", plain_conv_unet(args.input_channels, args.classes, args.unet_features),
                               args, device))
    for preset in args.presets:
        for variant in args.variants:
            net = build_s3mamba(preset, args.input_channels, args.classes, True, **VARIANTS[variant])
            results.append(measure(f"S3MambaNet[{preset},{variant}]", net, args, device))
    print(json.dumps({"benchmark": "network_gpu", "device": torch.cuda.get_device_name() if device.type == "cuda"
                      else "cpu", "batch": args.batch, "patch": args.patch, "steps": args.steps,
                      "amp": "fp16 autocast" if device.type == "cuda" else "fp32",
                      "scan_backends": scan_backend_report(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
