#!/usr/bin/env bash
# One short check of the GPU paths on a CUDA machine (aim: < 10 min on one GPU). From the repository root:
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # default runs/gpu_check; needs the gpu extra (vllm==0.32.0)
#   M1_VLM_MODEL=/models/Qwen2.5-VL-3B-Instruct bash scripts/gpu_check.sh   # tool workers with the VLM on cuda
#   bash scripts/gpu_check.sh --dry-run [OUT_DIR]   # CPU-safe parts only: environment, plan, config check
#
# Steps (each timed; figures end up in OUT_DIR/figures.json and figures.md, via scripts/gpu_figures.py):
#   1. environment: GPUs, memory, torch/vllm versions               -> env.json
#   2. the GPU tests (tests/gpu: HF engine and learner on CUDA, a real-size learner step against the
#      planner, vLLM native weight transfer over CUDA IPC with engine start and sync seconds)
#                                                                    -> tests_figures.json
#   3. the planner's layout of configs/gpu_check.yaml on this machine -> plan.json / plan.txt
#   4. one MARL step of that team (Qwen2.5-0.5B and Qwen3-0.6B architectures, vLLM engines, the learner
#      and engines in a Ray placement group, native weight transfer: ipc on one GPU, nccl on two or more;
#      VLM tool workers on cuda when M1_VLM_MODEL names a local checkpoint) with nvidia-smi sampling
#      memory every second                                           -> run/marl/metrics.jsonl, gpu_mem.csv
set -euo pipefail

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:-runs/gpu_check}
PY=${PYTHON:-python}
mkdir -p "$OUT"
start=$(date +%s)
step() { echo "== gpu_check [$(( $(date +%s) - start )) s] $*"; }

step "1. environment"
"$PY" - "$OUT/env.json" <<'EOF'
import importlib.util, json, sys
import torch
env = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
       "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0}
if env["cuda"]:
    p = torch.cuda.get_device_properties(0)
    env.update(gpu_name=p.name, gpu_memory_gb=round(p.total_memory / 1e9, 1))
if importlib.util.find_spec("vllm") is not None:
    import vllm
    env["vllm"] = vllm.__version__
open(sys.argv[1], "w").write(json.dumps(env))
print(env)
EOF
read -r GPUS GPU_GB VLLM_VERSION < <("$PY" -c "import json,sys; e=json.load(open('$OUT/env.json')); \
print(e['gpus'], e.get('gpu_memory_gb', 80), e.get('vllm', 'none'))")
if [ "$DRY" = 0 ]; then
  if [ "$GPUS" = 0 ]; then echo "gpu_check: no CUDA device here (use --dry-run for the CPU-safe parts)" >&2; exit 2; fi
  if [ "$VLLM_VERSION" != "0.32.0" ]; then
    echo "gpu_check: vllm $VLLM_VERSION, expected 0.32.0 (pip install -e '.[gpu]')" >&2; exit 2
  fi
else
  GPUS=1; GPU_GB=80  # plan for one 80 GB GPU
fi

# the shape of this machine, and the weight transfer that fits it
OVR=("cluster.gpus_per_node=$GPUS" "cluster.gpu_memory_gb=$GPU_GB" "output_dir=$OUT/run")
if [ "$GPUS" -ge 2 ]; then
  OVR+=("ray.learner_gpus=1" "engine.weight_transfer=nccl")  # the learner on a GPU of its own: NCCL broadcast
else
  OVR+=("ray.learner_gpus=0.4" "engine.weight_transfer=ipc")  # learner and engines share the GPU: CUDA IPC
fi
if [ -n "${M1_VLM_MODEL:-}" ]; then
  OVR+=("tools.backend=vlm" "tools.vlm_device=cuda" "tools.vlm_model=$M1_VLM_MODEL"
        "cluster.vlm_model_config_path=$M1_VLM_MODEL/config.json")
else
  echo "gpu_check: M1_VLM_MODEL unset: the tool workers run the CPU tools (no VLM checkpoint to put on the GPU)"
fi

if [ "$DRY" = 0 ]; then
  step "2. GPU tests"
  M1_GPU_FIGURES="$OUT/tests_figures.json" timeout 300 "$PY" -m pytest tests/gpu -q -s -p no:cacheprovider \
    || echo "gpu_check: some GPU tests failed (see above); continuing"
fi

step "3. plan of configs/gpu_check.yaml on $GPUS GPU(s) x $GPU_GB GB"
"$PY" -m cli plan-resources configs/gpu_check.yaml "${OVR[@]}" | tee "$OUT/plan.txt"
"$PY" -m cli plan-resources configs/gpu_check.yaml "${OVR[@]}" --json > "$OUT/plan.json"

if [ "$DRY" = 1 ]; then
  step "4. (dry run) the MARL step's configuration validates"
  "$PY" -c "from m1.config import load_config; import sys; c = load_config('configs/gpu_check.yaml', sys.argv[1:]); \
print('marl step: agents', [a.name for a in c.team.agents], 'transfer', c.engine.weight_transfer, \
'placement group', c.ray.placement_group)" "${OVR[@]}"
  step "dry run done: steps 2 and 4 need CUDA"
  exit 0
fi

step "4. one MARL step (memory sampled every second)"
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -l 1 > "$OUT/gpu_mem.csv" &
SMI=$!
trap 'kill $SMI 2>/dev/null || true' EXIT
timeout 420 "$PY" jobs/marl.py --config configs/gpu_check.yaml "${OVR[@]}" || echo "gpu_check: the MARL step failed"
kill $SMI 2>/dev/null || true

step "5. figures"
"$PY" scripts/gpu_figures.py "$OUT"
step "done: $OUT/figures.md"
