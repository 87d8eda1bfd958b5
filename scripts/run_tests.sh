#!/usr/bin/env bash
# The project's test command: installs into .venv if needed, then runs the whole suite (pytest's exit code passes
# through, so "no tests collected" (5) fails too). Extra arguments go to pytest.
#   bash scripts/run_tests.sh           the whole suite (what CI runs)
#   bash scripts/run_tests.sh --fast    the unit tests only: no nnU-Net runs, no slow or GPU-kernel tests
# Markers (pytest.ini): e2e, slow, gpu; e.g. `-m gpu` for the kernel tests on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
if [ "${1:-}" = "--fast" ]; then
    shift
    exec python -m pytest -q -m "not e2e and not slow and not gpu" "$@"
fi
exec python -m pytest -q "$@"
