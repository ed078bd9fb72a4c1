#!/usr/bin/env bash
# Create .venv with everything VividVR needs. The exact CPU torch goes in first, so pip never pulls a
# CUDA build here (pyproject.toml only asks for a range that upstream diffusers supports).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[dev]'
