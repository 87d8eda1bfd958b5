#!/usr/bin/env bash
# The GPU rows of docs/BENCHMARKS.md in one command (GPU machine, repository root, mamba-ssm built):
#   bash benchmarks/gpu_suite.sh OUT_DIR
# Writes scan_gpu.json (our torch scan vs mamba-ssm's selective_scan_fn) and network_gpu.json (training step,
# inference tile and peak memory of the S3-Mamba presets against nnU-Net's PlainConvUNet at the CVC-ClinicDB plan,
# batch 26, patch 320x384). End-to-end epoch times come from experiments/cvc_clinicdb.sh (training logs).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
mkdir -p "$out"
python3 benchmarks/scan_gpu.py > "$out/scan_gpu.json"
python3 benchmarks/network_gpu.py --presets vmamba-s small --steps 5 > "$out/network_gpu.json"
