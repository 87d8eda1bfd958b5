"""Training-step and inference-tile time of the S3-Mamba presets against nnU-Net's PlainConvUNet. Prints JSON.

The U-Net is nnU-Net's 2D plan for CVC-ClinicDB: 7 stages, features 32..512, strides [1,2,2,2,2,2,2], 3x3
kernels, instance norm, leaky ReLU, deep supervision. Training step = forward with deep supervision, cross-entropy
summed over the outputs (targets nearest-downsampled to each output), backward, optimiser step (each trainer's:
nnU-Net's SGD, S3MambaTrainer's fused AdamW); on CUDA each network runs under the autocast its trainer uses (the
U-Net fp16 as nnUNetTrainer, S3-Mamba bf16 as S3MambaTrainer where the card supports it; `--s3mamba-amp fp16` for
the old setting) with a GradScaler; fp32 on CPU. Inference tile = one
patch, batch 1, deep supervision off, no grad. `--compile` adds a torch.compile'd copy of every network (nnUNetTrainer
compiles by default on CUDA; the selective scan is excluded from compilation).

    python benchmarks/network_gpu.py [--batch 26] [--patch 320 384] [--steps 10] [--presets vmamba-s small]
    python benchmarks/network_gpu.py --batch 2 --patch 128 128 --steps 1 --warmup 1 --unet-features 8 --presets small
        (a CPU smoke run: every network once, tiny)
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_s3mamba.architectures import build_s3mamba, scan_backend_report
from nnunetv2_s3mamba.trainers.s3mamba_trainer import paper_adamw


AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
VARIANTS = {"full": dict(use_encf=True, use_tcma=True), "no_tcma": dict(use_encf=True, use_tcma=False),
            "no_encf": dict(use_encf=False, use_tcma=True), "baseline": dict(use_encf=False, use_tcma=False),
            "full_res_tcma": dict(use_encf=True, use_tcma=True, tcma_full_resolution=True)}


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


def measure(name: str, net: nn.Module, args, device: torch.device, amp_dtype: torch.dtype,
            make_optimizer: Callable[[nn.Module], torch.optim.Optimizer], compile_network: bool = False) -> dict:
    net = net.to(device)
    amp = device.type == "cuda"
    eager = net
    if compile_network:
        net = torch.compile(net)
    optimizer = make_optimizer(eager)
    x = torch.randn(args.batch, args.input_channels, *args.patch, device=device)
    target = torch.randint(0, args.classes, (args.batch, 1, *args.patch), device=device).float()
    train_step = make_training_step(net, optimizer, x, target, amp_dtype)

    set_deep_supervision(eager, True)
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

    set_deep_supervision(eager, False)
    net.eval()
    tile = x[:1]
    with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
        for _ in range(args.warmup):
            net(tile)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            net(tile)
        synchronize(device)
    tile_ms = (time.perf_counter() - start) / args.steps * 1000
    params = sum(p.numel() for p in eager.parameters())
    return {"network": name + (" compiled" if compile_network else ""), "amp": str(amp_dtype) if amp else "fp32",
            "profile_top_ops": profile, "params_M": round(params / 1e6, 3),
            "train_step_ms": round(train_ms, 1), "inference_tile_ms": round(tile_ms, 1),
            "train_peak_mem_GiB": round(peak, 2) if peak is not None else None}


def make_training_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, target: torch.Tensor,
                       amp_dtype: torch.dtype) -> Callable[[], float]:
    """One training step as nnU-Net's loop does it: autocast on CUDA (fp32 elsewhere), GradScaler, deep-supervision
    cross-entropy with nearest-downsampled targets, optimiser step; returns the loss (a host sync, as nnU-Net's)."""
    amp = x.device.type == "cuda"
    scaler = torch.amp.GradScaler(x.device.type, enabled=amp)

    def train_step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp):
            outputs = net(x)
            loss = sum(F.cross_entropy(o.float(), F.interpolate(target, size=o.shape[-2:], mode="nearest")[:, 0].long())
                       for o in outputs)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.item()

    return train_step


# Kernel families of a profile, first match wins (kernel names of cuBLAS/CUTLASS, cuDNN, inductor and ours).
KERNEL_FAMILIES = (
    ("selective scan", ("four_direction_scan", "selective_scan")),
    ("matmul", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "splitk", "sm90_")),
    ("convolution", ("conv", "cudnn", "implicit", "winograd", "fft", "dgrad", "wgrad")),
    ("normalisation", ("norm", "welford")),
    ("optimiser", ("adam", "multi_tensor", "sgd")),
    ("copy", ("memcpy", "memset", "copy", "cat", "transpose")),
    ("inductor fused", ("triton_",)),
    ("elementwise/reduction", ("elementwise", "reduce", "vectorized", "unrolled", "softmax", "loss", "index")),
)


def kernel_family(name: str) -> str:
    lowered = name.lower()
    return next((family for family, patterns in KERNEL_FAMILIES if any(p in lowered for p in patterns)), "other")


def top_ops(train_step, device: torch.device) -> dict:
    """The ops with the most self time on the device (CPU time on a CPU run) over 3 training steps; the summed self
    time per step (busy) against the profiled steps' wall time: on CUDA, busy well below wall means the GPU idles
    (launch- or sync-bound); and how many kernels (ops on a CPU run) a step issues."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(3):
            train_step()
        synchronize(device)
        wall_ms = (time.perf_counter() - start) / 3 * 1000
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    # A kernel's device time is listed twice: under the kernel itself and as the self time of the op that
    # launched it. Busy time sums the kernels (and copies) only.
    counted = [e for e in events if e.device_type == DeviceType.CUDA] if device.type == "cuda" else events
    total = sum(getattr(e, key) for e in counted)
    families: dict[str, float] = {}
    for e in counted:
        family = kernel_family(e.key)
        families[family] = families.get(family, 0.0) + getattr(e, key) / 3000
    return {"ms_per_step_by_family": {f: round(ms, 2) for f, ms in sorted(families.items(), key=lambda i: -i[1])},
            "busy_ms_per_step": round(total / 3000, 1), "profiled_wall_ms_per_step": round(wall_ms, 1),
            "kernels_per_step": round(sum(e.count for e in counted) / 3) if device.type == "cuda" else None,
            "top": [{"op": e.key[:100], "ms_per_step": round(getattr(e, key) / 3000, 2),
                     "share": round(getattr(e, key) / total, 3)} for e in events[:25]]}


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
    parser.add_argument("--s3mamba-amp", choices=sorted(AMP_DTYPES), default="bf16",
                        help="autocast dtype of the S3-Mamba networks (S3MambaTrainer: bf16 where supported)")
    parser.add_argument("--compile", action="store_true", help="also time every network under torch.compile")
    parser.add_argument("--adamw", nargs="+", choices=["fused", "foreach"], default=["fused"],
                        help="S3-Mamba's AdamW implementations to time (the trainer uses fused)")
    parser.add_argument("--input-channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    s3mamba_amp = AMP_DTYPES[args.s3mamba_amp]
    if s3mamba_amp == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        s3mamba_amp = torch.float16
    # (name, builder, autocast dtype, optimiser name, optimiser factory): each network with its trainer's optimiser.
    networks = [] if args.no_unet else [
        ("PlainConvUNet", lambda: plain_conv_unet(args.input_channels, args.classes, args.unet_features), torch.float16,
         "SGD", lambda net: torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True))]
    networks += [(f"S3MambaNet[{preset},{variant}]",
                  lambda preset=preset, variant=variant: build_s3mamba(preset, args.input_channels, args.classes, True,
                                                                       **VARIANTS[variant]), s3mamba_amp,
                  f"AdamW ({adamw})", lambda net, fused=adamw == "fused": paper_adamw(net, 1e-4, 1e-2, fused=fused))
                 for preset in args.presets for variant in args.variants for adamw in args.adamw]
    results = []
    for name, build, amp_dtype, optimizer_name, make_optimizer in networks:
        for compile_network in (False, True) if args.compile else (False,):
            row = {"network": name + (" compiled" if compile_network else ""), "optimizer": optimizer_name}
            try:
                row.update(measure(name, build(), args, device, amp_dtype, make_optimizer, compile_network))
            except Exception as error:  # one network failing (e.g. under torch.compile) must not lose the others
                row["error"] = f"{type(error).__name__}: {str(error)[:500]}"
            results.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print(json.dumps({"benchmark": "network_gpu", "device": torch.cuda.get_device_name() if device.type == "cuda"
                      else "cpu", "batch": args.batch, "patch": args.patch, "steps": args.steps,
                      "scan_backends": scan_backend_report(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
