#!/usr/bin/env bash
# The project's test command: installs into .venv if needed, then runs the whole suite (pytest's exit code passes
# through, so "no tests collected" (5) fails too). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh
python -m pytest -q "$@"
