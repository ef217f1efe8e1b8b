#!/usr/bin/env bash
# The ablation table of issue #20 in the noisy-tool setting (configs/noisy.yaml): every row starts
# from the same SFT team (annotation and SFT with noisy tools, as `m1 run` does them), changes one
# thing, and is evaluated with `m1 eval` on the same held-out questions; benchmarks/collaboration.py
# then pairs every row with the full system (SFT + 8 MARL steps). Results: benchmarks/collaboration.md
# ("The ablation table with noisy tools").
#
#   RUN=DIR HELDOUT=DIR [OUT=DIR] [MARL_EVAL=DIR] bash benchmarks/noisy_ablations.sh [ROW ...]
#
#   RUN        annotation + SFT output with noisy tools (sft/team, sft/data, synth/train): `m1 run` or
#              jobs/annotate.py + jobs/sft.py, e.g. with sft.teacher=verify
#   TEAM       the SFT team every row starts from (default RUN/sft/team), e.g. the same data's students
#              trained again without early stopping into another output_dir
#   EVAL_ARGS  extra `m1 eval` arguments for every row, e.g. "--sample 160" (a seeded stratified sample;
#              rows pair only with evaluations of the same sample)
#   HELDOUT    the held-out benchmark (m1 synth --out HELDOUT --split test --n 70 --seed 100: 551 questions)
#   MARL_EVAL  the split MARL evaluates its one in-run question on (default HELDOUT/test; no effect on training)
#   ROW        rows to run, in order (default: all, most telling first); `report` writes the table
#   AGGREGATIONS  the report's aggregation rows (default summariser,top_score; top_score needs
#              predictions that recorded agent_scores)
#   MARL_SEED  the MARL rows' training seed (default 0): a second seed of a row is the same command
#              with MARL_SEED=1 and another OUT (link the first OUT's eval/sft there: SFT has no MARL seed)
#   SFT_SEED   the homogeneous team's initialisation and SFT seed (default 0); give the RUN's seed, so that
#              a second training seed of homo-sft pairs with the RUN of that seed (sft.* settings as RUN's)
#   SFT_PATIENCE  the homogeneous SFT's sft.patience, as the RUN's (default null: all 8 epochs, the best
#              validation step exported; the rows recorded in stops 29-31 used 4, which stops far too early)
#
# MARL rows repeat `m1 run`'s MARL settings (8 steps of 4 questions, group size 4, seed 0) with one
# change; `m1 run` evaluates 46 questions inside MARL, these rows skip that (marl.eval_questions=1)
# and are evaluated once, on HELDOUT. Aggregation rows need no run: collaboration.py --aggregations
# reads them from the full system's evaluation. Every step is skipped when its output exists.
#
# A team is evaluated with the prompts it was trained on: the SFT data holds rendered prompts, so a
# RUN annotated before a change of the prompt format (e.g. the `step` argument in the tool catalogue)
# gives rows that no longer compare with each other (see collaboration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
: "${RUN:?}" "${HELDOUT:?}"
TEAM=${TEAM:-$RUN/sft/team}
read -r -a EXTRA_EVAL <<< "${EVAL_ARGS:-}"
OUT=${OUT:-/tmp/m1-noisy-ablations}
CONFIG=configs/noisy.yaml
HOMO=configs/ablations/homogeneous_noisy.yaml
MARLSET=(seed=${MARL_SEED:-0} marl.steps=8 marl.questions_per_step=4 marl.eval_videos=6 marl.checkpoint_every=4
         grpo.group_size=4 marl.eval_questions=1 marl.data_dir="$RUN/synth/train"
         marl.eval_dir="${MARL_EVAL:-$HELDOUT/test}")
mkdir -p "$OUT/eval"
log() { echo "[$(date +%T)] $*"; }

marl() {  # marl ROW CONFIG START_TEAM [KEY=VALUE ...]: 8 MARL steps into $OUT/ROW
  local row=$1 config=$2 start=$3; shift 3
  [ -f "$OUT/$row/marl/team/team.json" ] && return
  log "MARL $row"
  "$PY" jobs/marl.py --config "$config" output_dir="$OUT/$row" marl.team_dir="$start" "${MARLSET[@]}" "$@" \
    > "$OUT/$row.marl.log" 2>&1
}

evaluate() {  # evaluate ROW CONFIG TEAM [KEY=VALUE ...]: the team on HELDOUT into $OUT/eval/ROW/team
  local row=$1 config=$2 team=$3; shift 3
  [ -f "$OUT/eval/$row/team/metrics.json" ] && return
  log "evaluate $row"
  "$PY" -m cli eval --config "$config" --benchmark m1_synth --data-dir "$HELDOUT" --split test --team "$team" \
    --system team --no-progress --out "$OUT/eval/$row" "${EXTRA_EVAL[@]}" "$@" > "$OUT/$row.eval.log" 2>&1
}

homo_sft() {  # four qwen3-base builds, SFT on the default team's data (agent k gets agent k's examples)
  [ -f "$OUT/homo/sft/team/team.json" ] && return
  log "SFT homogeneous team"
  "$PY" benchmarks/homogeneous_data.py "$RUN/sft/data" "$OUT/homo/data" "$HOMO"
  "$PY" -m cli models init --config "$HOMO" --out "$OUT/homo/init" seed="${SFT_SEED:-0}" > "$OUT/homo.init.log" 2>&1
  # the same SFT settings as the RUN's (sft.val_fraction=0.15 sft.epochs=8 sft.eval_every=40 sft.patience=$SFT_PATIENCE)
  "$PY" jobs/sft.py --config "$HOMO" output_dir="$OUT/homo" seed="${SFT_SEED:-0}" sft.team_dir="$OUT/homo/init" \
    sft.dataset_dir="$OUT/homo/data" sft.val_fraction=0.15 sft.epochs=8 sft.eval_every=40 \
    sft.patience="${SFT_PATIENCE:-null}" \
    > "$OUT/homo.sft.log" 2>&1
}

row() {
  case $1 in
    full) marl full $CONFIG "$TEAM"
          evaluate full $CONFIG "$OUT/full/marl/team" ;;
    sft) evaluate sft $CONFIG "$TEAM" ;;
    no-dropout) marl no-dropout $CONFIG "$TEAM" grpo.agent_dropout=false
                evaluate no-dropout $CONFIG "$OUT/no-dropout/marl/team" ;;
    no-rcol) marl no-rcol $CONFIG "$TEAM" rewards.col_weight=0
             evaluate no-rcol $CONFIG "$OUT/no-rcol/marl/team" ;;
    infer-2) evaluate infer-2 $CONFIG "$OUT/full/marl/team" "team.use=[qwen2-base,qwen3-base]" ;;
    infer-1) evaluate infer-1 $CONFIG "$OUT/full/marl/team" "team.use=[qwen3-base]" ;;
    # R_format graded by the share of well-formed turns and calls (a departure from the paper)
    format-graded) marl format-graded $CONFIG "$TEAM" rewards.format_graded=true
                   evaluate format-graded $CONFIG "$OUT/format-graded/marl/team" ;;
    no-rformat) marl no-rformat $CONFIG "$TEAM" rewards.format_ok=0 rewards.format_bad=0
                evaluate no-rformat $CONFIG "$OUT/no-rformat/marl/team" ;;
    # LoRA at 10x full fine-tuning's lr (benchmarks/marl_ablations.sh says why)
    lora) marl lora $CONFIG "$TEAM" marl.lora=true grpo.lr=1e-3
          evaluate lora $CONFIG "$OUT/lora/marl/team" ;;
    homo-sft) homo_sft; evaluate homo-sft $HOMO "$OUT/homo/sft/team" ;;
    homo) homo_sft; marl homo $HOMO "$OUT/homo/sft/team"
          evaluate homo $HOMO "$OUT/homo/marl/team" ;;
    agents-1) marl agents-1 $CONFIG "$TEAM" "team.use=[qwen3-base]"
              evaluate agents-1 $CONFIG "$OUT/agents-1/marl/team" "team.use=[qwen3-base]" ;;
    agents-2) marl agents-2 $CONFIG "$TEAM" "team.use=[qwen2-base,qwen3-base]"
              evaluate agents-2 $CONFIG "$OUT/agents-2/marl/team" "team.use=[qwen2-base,qwen3-base]" ;;
    report)
      local runs=()
      for r in sft no-dropout format-graded no-rcol no-rformat lora infer-2 infer-1 agents-2 agents-1 homo-sft homo; do
        [ -f "$OUT/eval/$r/team/metrics.json" ] && runs+=(--run "$r=$OUT/eval/$r/team")
      done
      "$PY" benchmarks/collaboration.py --data-dir "$HELDOUT" --run "full=$OUT/eval/full/team" "${runs[@]}" \
        --base full --aggregations "${AGGREGATIONS:-summariser,top_score}" --md "$OUT/report.md" ;;
    *) echo "unknown row $1" >&2; exit 2 ;;
  esac
}

ROWS=("$@")
[ ${#ROWS[@]} -gt 0 ] || ROWS=(sft full no-dropout format-graded infer-1 infer-2 no-rcol no-rformat lora homo-sft homo
                               agents-1 agents-2 report)
for r in "${ROWS[@]}"; do row "$r"; done
log done
