#!/usr/bin/env bash
# Robustness to a missing agent (the benefit the paper claims for Agent Dropout): evaluate a trained
# team with each of its agents removed in turn (the other three keep their citation labels; removing
# the last agent makes the third the summariser) and compare every variant with the intact team on the
# same held-out questions (paired bootstrap). Run it for a team trained with and one without dropout.
#
#   HELDOUT=DIR [OUT=DIR] [N=150] bash benchmarks/agent_removal.sh ROW=TEAM_DIR [ROW=TEAM_DIR ...]
#
# Each ROW's intact evaluation is $OUT/ROW.json (reused when it exists, e.g. from marl_ablations.sh with
# the same OUT); the variants are $OUT/ROW-without-AGENT.json. Finished evaluations are skipped.
# Results: benchmarks/marl_results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
: "${HELDOUT:?}"
OUT=${OUT:-/tmp/m1-agent-removal}
N=${N:-150}
[ $# -gt 0 ] || { echo "usage: HELDOUT=DIR bash $0 ROW=TEAM_DIR [ROW=TEAM_DIR ...]" >&2; exit 2; }
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*"; }

evaluate() {  # evaluate NAME TEAM_DIR [sft_eval args ...]
  local name=$1 team=$2; shift 2
  [ -f "$OUT/$name.json" ] && return
  log "evaluate $name"
  "$PY" benchmarks/sft_eval.py --split "$HELDOUT" --team "$name=$team" --n "$N" --json "$OUT/$name.json" "$@" \
    > "$OUT/$name.eval.log" 2>&1
}

for arg in "$@"; do
  row=${arg%%=*} team=${arg#*=}
  mapfile -t agents < <("$PY" -c 'import json, sys
print("\n".join(a["name"] for a in json.load(open(sys.argv[1]))["team"]["agents"]))' "$team/team.json")
  evaluate "$row" "$team"
  for drop in "${agents[@]}"; do
    keep=$(printf '%s\n' "${agents[@]}" | grep -vx "$drop" | paste -sd,)
    evaluate "$row-without-$drop" "$team" --agents "$keep"
  done
  for drop in "${agents[@]}"; do
    "$PY" benchmarks/paired_compare.py "$OUT/$row.json" "$OUT/$row-without-$drop.json" --intersect \
      --resamples 2000 > "$OUT/compare-$row-without-$drop.md"
    log "$row without $drop: $(grep '^Overall' "$OUT/compare-$row-without-$drop.md" || true)"
  done
done
log done
