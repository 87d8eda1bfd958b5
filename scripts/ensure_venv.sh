# Sourced by the other scripts: create .venv on first use and (re)install the project when setup.py changes.
# pip, not uv/poetry: pip takes torch from the machine's local wheel cache instead of downloading ~3 GB.
VENV="${S3MAMBA_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
if [ ! -f "$VENV/.s3mamba-installed" ] || [ setup.py -nt "$VENV/.s3mamba-installed" ]; then
    python -m pip install -q --upgrade pip
    python -m pip install -q -e ".[test]"
    touch "$VENV/.s3mamba-installed"
fi
