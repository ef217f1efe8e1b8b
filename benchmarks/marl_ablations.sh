#!/usr/bin/env bash
# The MARL ablation table of issue #7 at tiny scale: one short MARL run per training row, every
# row started from the same 1-epoch SFT team and evaluated greedily on the same held-out questions,
# then compared with a paired bootstrap against the full system. Results: benchmarks/marl_results.md.
#
#   TRAIN=DIR HELDOUT=DIR SFT_TEAM=DIR SFT_DATA=DIR INIT_TEAM=DIR [OUT=DIR] [STEPS=25] [Q=8] [N=150] \
#       [MARL_ARGS="grpo.lr=3e-4 ..."] [LORA_LR=1e-3] bash benchmarks/marl_ablations.sh
#
#   TRAIN      M1-Synth train split (MARL questions)     HELDOUT  held-out split (evaluation)
#   SFT_TEAM   the 1-epoch SFT team (jobs/sft.py ... sft.epochs=1)
#   SFT_DATA   the annotated SFT data set (jobs/annotate.py), for the homogeneous team's SFT
#   INIT_TEAM  the untrained team (m1 models init), for the MARL-only row
#
# Every step is skipped when its output exists, so a stopped script resumes where it stopped.
# Rows run one after another: on a 2-core machine parallel runs only slow each other down.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
: "${TRAIN:?}" "${HELDOUT:?}" "${SFT_TEAM:?}" "${SFT_DATA:?}" "${INIT_TEAM:?}"
OUT=${OUT:-/tmp/m1-ablations}
STEPS=${STEPS:-25}
Q=${Q:-8}
N=${N:-150}
HOMO=configs/ablations/homogeneous.yaml
mkdir -p "$OUT"
read -ra EXTRA <<< "${MARL_ARGS:-}"  # settings every MARL run gets (e.g. a learning rate)
COMMON=(marl.data_dir="$TRAIN" marl.eval_dir="$HELDOUT" marl.eval_questions=1 marl.steps="$STEPS"
        marl.questions_per_step="$Q" marl.checkpoint_every="$STEPS" "${EXTRA[@]}")

log() { echo "[$(date +%T)] $*"; }

marl() {  # marl ROW [--config YAML] [KEY=VALUE ...]: a MARL run into $OUT/ROW
  local row=$1 config=(); shift
  if [ "${1:-}" = --config ]; then config=(--config "$2"); shift 2; fi
  [ -f "$OUT/$row/marl/team/team.json" ] && return
  log "MARL $row"
  "$PY" jobs/marl.py "${config[@]}" output_dir="$OUT/$row" "${COMMON[@]}" "$@" > "$OUT/$row.marl.log" 2>&1
}

evaluate() {  # evaluate ROW TEAM_DIR [sft_eval args ...]: greedy evaluation into $OUT/ROW.json
  local row=$1 team=$2; shift 2
  [ -f "$OUT/$row.json" ] && return
  log "evaluate $row"
  "$PY" benchmarks/sft_eval.py --split "$HELDOUT" --team "$row=$team" --n "$N" --json "$OUT/$row.json" "$@" \
    > "$OUT/$row.eval.log" 2>&1
}

evaluate sft "$SFT_TEAM"
marl full marl.team_dir="$SFT_TEAM"
evaluate full "$OUT/full/marl/team"
# Inference-time rows on the full system's team.
evaluate full-2-at-inference "$OUT/full/marl/team" --agents qwen2-base,qwen3-base
evaluate full-1-at-inference "$OUT/full/marl/team" --agents qwen3-base
evaluate full-agent-decision "$OUT/full/marl/team" cpp.aggregation=summariser
evaluate full-top-score "$OUT/full/marl/team" cpp.aggregation=top_score
# Training rows, most telling first (a stopped script keeps what it finished).
marl no-dropout marl.team_dir="$SFT_TEAM" grpo.agent_dropout=false
evaluate no-dropout "$OUT/no-dropout/marl/team"
marl agents-1 marl.team_dir="$SFT_TEAM" "team.use=[qwen3-base]"
evaluate agents-1 "$OUT/agents-1/marl/team" --agents qwen3-base
evaluate sft-agents-1 "$SFT_TEAM" --agents qwen3-base
marl agents-2 marl.team_dir="$SFT_TEAM" "team.use=[qwen2-base,qwen3-base]"
evaluate agents-2 "$OUT/agents-2/marl/team" --agents qwen2-base,qwen3-base
evaluate sft-agents-2 "$SFT_TEAM" --agents qwen2-base,qwen3-base
# Homogeneous team: four qwen3-base builds, SFT for 1 epoch on the data of the default team's agents
# (agent k of this team gets agent k's examples: same position, same citation labels), then MARL.
if [ ! -f "$OUT/homo/sft/team/team.json" ]; then
  log "SFT homogeneous team"
  "$PY" benchmarks/homogeneous_data.py "$SFT_DATA" "$OUT/homo/data" "$HOMO"
  "$PY" -m cli models init --config "$HOMO" --out "$OUT/homo/init" > "$OUT/homo.init.log" 2>&1
  "$PY" jobs/sft.py --config "$HOMO" output_dir="$OUT/homo" sft.team_dir="$OUT/homo/init" \
    sft.dataset_dir="$OUT/homo/data" sft.epochs=1 > "$OUT/homo.sft.log" 2>&1
fi
evaluate sft-homo "$OUT/homo/sft/team" --config "$HOMO"
marl no-rcol marl.team_dir="$SFT_TEAM" rewards.col_weight=0
evaluate no-rcol "$OUT/no-rcol/marl/team"
marl homo --config "$HOMO" marl.team_dir="$OUT/homo/sft/team"
evaluate homo "$OUT/homo/marl/team" --config "$HOMO"

marl no-rformat marl.team_dir="$SFT_TEAM" rewards.format_ok=0 rewards.format_bad=0
evaluate no-rformat "$OUT/no-rformat/marl/team"
# LoRA gets 10x full fine-tuning's learning rate (the usual rule for LoRA, in SFT and in RL): at the same
# lr, rank-8 adapters move the policy far less per step, and the row would measure the lr, not LoRA.
marl lora marl.team_dir="$SFT_TEAM" marl.lora=true grpo.lr="${LORA_LR:-1e-3}"
evaluate lora "$OUT/lora/marl/team"
# MARL-only: the untrained team parses nothing, so every rollout of a group gets the same reward and
# every advantage is 0; a few steps show it (MARL_ONLY_STEPS).
marl marl-only marl.team_dir="$INIT_TEAM" marl.steps="${MARL_ONLY_STEPS:-3}" marl.checkpoint_every="${MARL_ONLY_STEPS:-3}"
evaluate marl-only "$OUT/marl-only/marl/team"
evaluate untrained "$INIT_TEAM"

log "paired comparisons"
for row in sft full-agent-decision full-top-score full-2-at-inference full-1-at-inference no-dropout no-rcol \
           no-rformat agents-2 agents-1 lora homo sft-homo marl-only untrained sft-agents-2 sft-agents-1; do
  [ -f "$OUT/$row.json" ] || continue
  "$PY" benchmarks/paired_compare.py "$OUT/full.json" "$OUT/$row.json" --intersect --resamples 2000 \
    > "$OUT/compare-$row.md"
  log "$row: $(grep '^Overall' "$OUT/compare-$row.md" || true)"
done
log done
