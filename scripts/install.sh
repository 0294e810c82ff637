#!/usr/bin/env bash
# Create .venv and install noisesearch with its test tools and Ray.
# An existing PyTorch (e.g. a CUDA build) is kept: the venv sees the system's packages, and
# torch is installed only when none is importable.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install "torch==2.13.0"
fi
.venv/bin/python -m pip install -e ".[dev,ray]"
