#!/usr/bin/env bash
# One-command set-up: creates .venv (Python 3.11), installs torch (CPU wheel unless CUDA is
# present) and then this project with the extras given as arguments (default: dev).
#   bash scripts/setup.sh            # project + dev extras
#   bash scripts/setup.sh dev,gpu    # on a CUDA machine
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
else
  # The CPU wheel: on the project's machines pip takes it from local disk; elsewhere set
  # TORCH_INDEX=https://download.pytorch.org/whl/cpu to avoid a multi-GB CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
fi
.venv/bin/python -m pip install -q -e ".[${extras}]"
echo "videochat-m1 installed in .venv ($(.venv/bin/python -c 'import torch,transformers;print("torch",torch.__version__,"transformers",transformers.__version__)'))"
