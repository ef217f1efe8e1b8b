"""Which agent should summarise? Each agent of a team as its summariser, and the best one chosen on
held-out questions by two-fold cross-fitting, from one evaluation of the team (issue #20).

The paper lets its best model summarise open-ended and grounding answers. `m1 models choose-summariser
--by team` picks that agent on a validation split; this script asks the same from a single `m1 eval` of
the team on a complete topology, where every agent read the whole shared memory and recorded its own
final answer, so making another agent the summariser is exact (:func:`m1.evaluation.harness.reaggregate`).
The questions are split into two folds by video (every question of a video in one fold); each fold's
summariser is the agent best on the other fold (ties: the later agent, as choose-summariser), so no
answer is scored by a choice that saw it. Reported against the run's own summariser (the default: the
last agent, unless the team stored a choice), with paired bootstrap intervals over questions.
Aggregation is the run's own (``run.json``; a run recorded before ``cpp.open_ended_aggregation`` used
the summariser's list): under today's default item vote the summariser only breaks ties on open-ended
lists, so to measure the paper's role there evaluate with ``cpp.open_ended_aggregation=summariser``.

    python benchmarks/summariser_crossfit.py --data-dir D --eval-dir OUT/team [--families open_ended,grounding]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from m1.config import CPPConfig
from m1.data import load_benchmark
from m1.data.scoring import score_question
from m1.evaluation.harness import reaggregate, recorded_cpp, records_team_answers
from m1.evaluation.predictions import read_predictions
from m1.evaluation.stats import paired_bootstrap
from m1.evaluation.summariser import pick
from m1.schema import Question


def video_of(q: Question) -> str:
    return str(q.meta.get("video_id") or q.video)


def folds(questions: list[Question]) -> list[list[Question]]:
    """Two folds by video: videos in sorted order alternate between them."""
    videos = sorted({video_of(q) for q in questions})
    side = {v: i % 2 for i, v in enumerate(videos)}
    return [[q for q in questions if side[video_of(q)] == k] for k in (0, 1)]


def per_agent_scores(questions: list[Question], preds: dict, agents: list[str], cpp: dict) -> dict[str, dict]:
    """agent → qid → the team's score with that agent as summariser."""
    out: dict[str, dict] = {}
    for a in agents:
        cfg = CPPConfig(**{**recorded_cpp(cpp), "summariser": a})
        out[a] = {q.qid: score_question(q, reaggregate(preds[q.qid], q, agents, cfg).prediction or None).score
                  for q in questions}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="The benchmark directory m1 eval read.")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eval-dir", required=True, help="m1 eval's team output (predictions.jsonl, run.json).")
    ap.add_argument("--families", default=None,
                    help="Only these question families (comma-separated), e.g. open_ended,grounding: those whose "
                         "answer the summariser writes. Default: every family.")
    ap.add_argument("--seed", type=int, default=0, help="Bootstrap seed.")
    ap.add_argument("--resamples", type=int, default=5000)
    ap.add_argument("--json", default=None, help="Also write the figures here.")
    args = ap.parse_args(argv)

    run = Path(args.eval_dir)
    settings = json.loads((run / "run.json").read_text())["settings"]
    if settings.get("topology") != "complete":
        raise SystemExit(f"{run}: another summariser is exact only for a complete-topology run, this one ran "
                         f"{settings.get('topology')!r}")
    agents, cpp = settings["agents"], settings["cpp"]
    preds, _ = read_predictions(run / "predictions.jsonl")
    questions = [q for q in load_benchmark("m1_synth", args.data_dir, args.split).questions
                 if q.qid in preds and records_team_answers(preds[q.qid])]
    if args.families:
        keep = set(args.families.split(","))
        questions = [q for q in questions if q.family in keep]
    if not questions:
        raise SystemExit("no question with the team's recorded answers (and of those families) to score")
    scores = per_agent_scores(questions, preds, agents, cpp)
    own = {q.qid: score_question(q, preds[q.qid].prediction or None).score for q in questions}
    default = cpp.get("summariser") or agents[-1]
    chosen: dict[str, float] = {}
    choices = []
    parts = folds(questions)
    for k, part in enumerate(parts):
        other = parts[1 - k]
        fit = {a: sum(scores[a][q.qid] for q in other) / max(1, len(other)) for a in agents}
        agent = pick(fit)
        choices.append({"fold": k, "questions": len(part), "chosen_on": len(other), "agent": agent,
                        "scores_on_other_fold": {a: round(s, 4) for a, s in fit.items()}})
        chosen.update({q.qid: scores[agent][q.qid] for q in part})
    qids = [q.qid for q in questions]

    def mean(d: dict) -> float:
        return sum(d[i] for i in qids) / len(qids)

    rows = {"run's summariser (" + default + ")": own, "cross-fitted best agent": chosen}
    rows.update({f"{a} as summariser": scores[a] for a in agents})
    print(f"{len(qids)} questions of {run} ({', '.join(sorted({q.family for q in questions}))}); "
          f"{len({video_of(q) for q in questions})} videos in two folds; paired bootstrap {args.resamples} "
          f"resamples, seed {args.seed}.\n")
    print("| summariser | score | − run's summariser [95% CI] |\n|---|---|---|")
    out = {"questions": len(qids), "agents": agents, "default": default, "folds": choices, "rows": {}}
    for name, d in rows.items():
        diff, lo, hi = paired_bootstrap([own[i] for i in qids], [d[i] for i in qids], args.resamples, args.seed)
        out["rows"][name] = {"score": mean(d), "diff": diff, "low": lo, "high": hi}
        print(f"| {name} | {mean(d):.3f} | {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    print()
    for c in choices:
        shown = ", ".join(f"{a} {s:.3f}" for a, s in c["scores_on_other_fold"].items())
        print(f"fold {c['fold']} ({c['questions']} questions): {c['agent']}, chosen on the other fold's "
              f"{c['chosen_on']} ({shown})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
