#!/usr/bin/env bash
# The GPU rows of docs/BENCHMARKS.md in one command (GPU machine, repository root, nnU-Net's wheels on the path;
# mamba-ssm built for the rows that compare with it):
#   bash benchmarks/gpu_suite.sh OUT_DIR [BASELINE_KERNEL.py]
# Writes, in this order, each file as soon as it is done:
#   gpu_tests.txt              the scan tests on the GPU (Triton kernel against the PyTorch scan and mamba-ssm)
#   ss2d_scan_gpu.json         SS2D's scan per vmamba-s stage: mamba-ssm, our Triton kernel's tiles (and another
#                              version of the kernel, BASELINE_KERNEL.py, where given)
#   ss2d_scan_gpu_fast.json    the same for vmamba-s-fast's scan (one state, ssm_ratio 1)
#   network_triton.json        training step, inference tile, memory and profile by kernel family: nnU-Net's U-Net
#                              against vmamba-s and vmamba-s-fast with the Triton scan, eager and compiled
#   network_mamba_ssm.json     the same U-Net against vmamba-s with mamba-ssm's scan
#   suite.log                  every step's stderr, then "done"
# at nnU-Net's CVC-ClinicDB plan (batch 26, 320x384). A failing step is logged and the next one runs. Six files:
# the device tool returns at most eight from $OUT.
set -uo pipefail
out=${1:?usage: $0 OUT_DIR [BASELINE_KERNEL.py]}
baseline=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pytest -q -p no:cacheprovider -m gpu tests/ops > "$out/gpu_tests.txt" 2>&1
python3 benchmarks/ss2d_scan_gpu.py ${baseline:+--baseline-kernel "$baseline"} \
    --tiles 8,32,1 16,64,1 16,32,2 32,32,2 32,32,1 \
    > "$out/ss2d_scan_gpu.json" 2>> "$out/suite.log"
python3 benchmarks/ss2d_scan_gpu.py --d-state 1 --ssm-ratio 1 --tiles 32,64,1 128,64,2 128,128,4 \
    > "$out/ss2d_scan_gpu_fast.json" 2>> "$out/suite.log"
S3MAMBA_SCAN_BACKEND=triton python3 benchmarks/network_gpu.py --presets vmamba-s vmamba-s-fast --compile \
    --steps 10 --profile > "$out/network_triton.json" 2>> "$out/suite.log"
S3MAMBA_SCAN_BACKEND=mamba_ssm python3 benchmarks/network_gpu.py --presets vmamba-s --compile --steps 10 \
    --profile > "$out/network_mamba_ssm.json" 2>> "$out/suite.log"
echo done >> "$out/suite.log"
