#!/usr/bin/env bash
# Creates .venv-lmms: lmms-eval (the `lmms` extra of pyproject.toml) with this project installed
# beside it (--no-deps, editable), so that `lmms-eval --model videochat_m1` runs the team
# (m1_lmms/, registered in the lmms_eval.models entry-point group).
#
# Why not an extra in .venv: measured with `pip install --dry-run lmms-eval==0.7.3` against .venv,
# lmms-eval moves torch 2.13.0+cpu to 2.14.1 with the CUDA wheels (its newest torchvision needs it),
# av 18 to 15 (av<16), protobuf 7 to 6, and adds opencv-python-headless, whose cv2 overwrites
# opencv-python's (uninstalling either then breaks cv2) - 84 packages in all. Here: torch stays
# 2.13.0+cpu, torchvision is left out, only the headless OpenCV is installed (the same cv2;
# rapidocr goes in --no-deps because it names opencv-python), and Ray is left out (the plugin's
# ray=true needs it; serve_url= reaches a team served from .venv instead).
# The environment is scripts/lmms-requirements.lock, installed --no-deps by uv (no resolver run:
# resolving lmms-eval's ~150 packages with pip took 13 min here; M1_LMMS_RELOCK=1 resolves again
# and rewrites the lock).
# Idempotent: an environment that imports all of it and lists the entry point is kept; anything
# else (a broken or half-finished install) is rebuilt from nothing.
#   bash scripts/setup_lmms.sh                   # measured: see README "lmms-eval" (time, disk)
#   M1_SKIP_LMMS=1 bash scripts/setup_lmms.sh    # do nothing (the lmms tests then skip)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${M1_SKIP_LMMS:-0}" = "1" ]; then
  echo "setup_lmms: skipped (M1_SKIP_LMMS=1); tests marked lmms will be skipped"
  exit 0
fi
VENV=.venv-lmms
CHECK='import lmms_eval.evaluator, decord, cv2, av, torch, m1, m1_lmms.model
from importlib.metadata import entry_points, version
assert [e for e in entry_points(group="lmms_eval.models") if e.name == "videochat_m1"], "no entry point"
print("lmms-eval", version("lmms-eval"), "torch", torch.__version__, "av", av.__version__, "cv2", cv2.__version__)'
if [ -x "$VENV/bin/python" ] && kept=$("$VENV/bin/python" -c "$CHECK" 2>/dev/null); then
  echo "setup_lmms: $VENV kept: $kept"
  exit 0
fi
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
start=$(date +%s)
if [ -e "$VENV" ]; then
  echo "setup_lmms: $VENV exists but fails the check: recreating it"
  rm -rf "$VENV"
fi
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
LOCK=scripts/lmms-requirements.lock
"${PIP[@]}" --upgrade pip uv
# torch 2.13.0+cpu: from pip's find-links (on the project's machines a local wheel) or, elsewhere,
# TORCH_INDEX=https://download.pytorch.org/whl/cpu; never the CUDA build.
FIND=()
for d in $("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true); do FIND+=(--find-links "$d"); done
if [ "${M1_LMMS_RELOCK:-0}" = "1" ]; then
  # Resolve from pyproject.toml: the lmms extra plus the project's dependencies, less what conflicts -
  # opencv-python (lmms-eval's headless build provides cv2; <5 keeps the Haar cascades), rapidocr
  # (names opencv-python; installed --no-deps), ray (not needed in-process), av (lmms-eval: <16) and
  # filelock (lmms-eval 0.7.3 imports filelock._api, gone in filelock 4). Measured: ~13 min on 2 busy cores.
  mapfile -t REQS < <("$VENV/bin/python" - <<'EOF'
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
skip = {"opencv-python", "rapidocr-onnxruntime", "ray", "av", "torch"}
print("\n".join(p["optional-dependencies"]["lmms"]))
print("\n".join(d for d in p["dependencies"] if re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0] not in skip))
EOF
  )
  "${PIP[@]}" "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
  "${PIP[@]}" "torch==2.13.0" "av>=14,<16" "opencv-python-headless<5" "filelock<4" "${REQS[@]}" \
    onnxruntime pyclipper shapely six pillow
  "${PIP[@]}" --no-deps "rapidocr-onnxruntime>=1.4"
  # lmms-eval names torchvision, whose PyPI build cannot load its operators beside the CPU torch
  # ("operator torchvision::nms does not exist") and then breaks transformers' imports; nothing here uses it
  "$VENV/bin/python" -m pip uninstall -y -q torchvision || true
  { sed -n 1,2p "$LOCK"; "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v -E "^(torch|videochat-m1)=="; } \
    > "$LOCK.new" && mv "$LOCK.new" "$LOCK"
  echo "setup_lmms: wrote $LOCK"
else
  # uv installs the lock in about a minute where pip took 12 (measured side by side, same busy box)
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps "${FIND[@]}" \
    ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} "torch==2.13.0+cpu" -r "$LOCK"
fi
"${PIP[@]}" --no-deps -e .
"$VENV/bin/python" -c "$CHECK"
echo "setup_lmms: done in $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1)"
