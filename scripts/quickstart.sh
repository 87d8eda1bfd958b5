#!/usr/bin/env bash
# The quickstart: installs into .venv if needed, then `s3mamba demo` (synthetic lesions -> nnU-Net plan, train,
# predict -> per-lesion-size evaluation). Extra arguments go to `s3mamba demo` (-o DIR, --device cuda, --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
s3mamba demo "$@"
