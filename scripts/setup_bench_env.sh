#!/usr/bin/env bash
# Creates .venv-bench: an environment for benchmarks that compare against third-party trainers
# (TRL's GRPOTrainer in benchmarks/grpo_speed.py). Separate from .venv so that TRL and what it
# pulls (accelerate, datasets, ...) can never move the project's own pins. The project goes in
# with --no-deps, plus only the dependencies the benchmarks import. Idempotent: an environment
# that already imports trl and m1 is kept.
#   bash scripts/setup_bench_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-bench
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import trl, m1" >/dev/null 2>&1; then
  echo "setup_bench_env: $VENV already has trl $("$VENV/bin/python" -c 'import trl;print(trl.__version__)')"
  exit 0
fi
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
start=$(date +%s)
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Same torch and transformers range as the project; pip picks the newest TRL compatible with them.
# On the project's machines torch 2.13.0+cpu comes from local disk; elsewhere set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu to avoid a CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "transformers>=5.16.1,<5.20" trl "peft>=0.17" \
  "pydantic>=2.7,<3" "pyyaml>=6" "omegaconf>=2.3,<3" "numpy>=1.26" "tokenizers>=0.21" "safetensors>=0.4"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "import torch, transformers, trl, m1; print('setup_bench_env: torch', torch.__version__, \
'transformers', transformers.__version__, 'trl', trl.__version__)"
echo "setup_bench_env: done in $(( $(date +%s) - start )) s"
