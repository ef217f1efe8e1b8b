"""The reference solver on M1-Synth's open-ended family, next to two trivial baselines.

Usage (make the split first):
    .venv/bin/python -m cli synth --out /tmp/oe_synth --split test --n 20 --seed 0 synth.open_ended=true
    .venv/bin/python benchmarks/open_ended.py /tmp/oe_synth/test [--annotate 16] [--out benchmarks/open_ended.md]

Scores by the project's one scorer (item F1, :mod:`m1.data.metrics`); "exact" = share scoring 1.
Baselines, no video watched: ``empty`` (no answer) and ``most common`` (per subtype, the reference
most often given in the train split of the same knobs and seed, 200 videos, whose questions are
generated without rendering any video).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from m1.config.synth import SynthConfig
from m1.data.scoring import score_question
from m1.evaluation.summary import summarise
from m1.schema import Family
from m1.synth import read_split
from m1.synth.generate import split_questions
from m1.tools.solver import solve


def annotation_lines(qs: list) -> list[str]:
    """The oracle teacher's annotation of ``qs`` as `jobs/annotate.py` runs it: the default team (its
    agents, contexts, labels; the tokenizer `m1 models init` trains), default cpp and sft settings."""
    from m1.checkpoint import train_tokenizer
    from m1.config import M1Config
    from m1.models import plan_corpus
    from m1.team.cpp import ToolRunner
    from m1.tools.registry import catalogue
    from m1.train.annotation import annotate, yield_by_family
    from m1.train.teachers import TeacherTeam, build_teacher

    cfg = M1Config()
    tok = train_tokenizer(plan_corpus(catalogue(), seed=cfg.seed), cfg.team.vocab_size)
    agents = cfg.team.agents
    team = TeacherTeam(build_teacher(cfg.sft, seed=cfg.seed), [x.name for x in agents], tok,
                       [x.max_context for x in agents], cfg.team.labels)
    t0 = time.time()
    examples, verdicts, episodes = annotate(qs, team, ToolRunner(cfg.tools, cfg.video), catalogue(), cfg.cpp,
                                            cfg.sft, seed=cfg.seed)
    y = yield_by_family(verdicts)["all"]
    final = [score_question(ep.question, ep.final_answer).score for ep in episodes]
    by_summariser = sum(ep.final_answer == next(x.answer for x in ep.agents if x.agent == ep.summariser)
                        for ep in episodes)
    kinds = Counter(e.kind for e in examples)
    return [f"Oracle annotation ({len(agents)} teacher agents, default settings) of the first {len(qs)} questions: "
            f"{y['kept']}/{y['trajectories']} trajectories kept (yield {y['yield']:.2f}; dropped: {y['wrong']} "
            f"wrong, {y['unparsed']} unparsed, {y['revised']} revised), examples {dict(sorted(kinds.items()))}; "
            f"team final answer = the summariser's in {by_summariser}/{len(episodes)} episodes, mean item F1 of the "
            f"final answers {sum(final) / len(final):.3f}; answer prompts without a candidate "
            f"{team.blind_answers}/{team.answers}; {time.time() - t0:.0f} s."]


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir", help="an M1-Synth split made with synth.open_ended=true")
    ap.add_argument("--train-videos", type=int, default=200)
    ap.add_argument("--annotate", type=int, default=0, help="also annotate the first N with the oracle teacher")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    missing = [f for f in ("questions.jsonl", "manifest.json") if not (Path(a.split_dir) / f).is_file()]
    if missing:
        ap.error(f"{a.split_dir} lacks {' and '.join(missing)}: give a whole split directory as `m1 synth` writes it "
                 "(the baselines read its generation settings from manifest.json), not a directory holding only "
                 "open_ended_<split>.jsonl")
    qs = [q for q in read_split(a.split_dir) if q.family == Family.OPEN_ENDED]
    if not qs:
        ap.error(f"{a.split_dir} has no open-ended question: generate it with synth.open_ended=true")
    manifest = json.loads((Path(a.split_dir) / "manifest.json").read_text())
    cfg = SynthConfig.model_validate(manifest["config"])
    train = [q for q in split_questions(cfg, "train", a.train_videos, seed=manifest["seed"])
             if q.family == Family.OPEN_ENDED]
    common = {cat: Counter(q.answer for q in train if q.category == cat).most_common(1)[0][0]
              for cat in {q.category for q in train}}
    groups, rows, lines_q = [], [], []
    t0 = time.time()
    for q in qs:
        s = solve(q)
        score = score_question(q, s.answer).score
        groups.append(q.category)
        rows.append({"score": score, "exact": float(score == 1.0), "frames": s.frames_used, "duration": q.duration,
                     "seconds": s.seconds, "empty": score_question(q, "").score,
                     "common": score_question(q, common.get(q.category, "")).score})
        lines_q.append(f"| {q.qid} | {q.question} | {q.answer} | {s.answer} | {score:.2f} |")
    wall = time.time() - t0
    lines = ["| subtype | n | solver item F1 | solver exact | most-common F1 | empty F1 | frames/q | 1-fps frames/q "
             "| s/q |", "|---|---|---|---|---|---|---|---|---|"]
    for key, v in summarise(groups, rows).items():
        lines.append(f"| {key} | {v['n']} | {v['score']:.3f} | {v['exact']:.3f} | {v['common']:.3f} | "
                     f"{v['empty']:.3f} | {v['frames']:.1f} | {v['duration']:.1f} | {v['seconds']:.2f} |")
    lines += ["", f"{len(qs)} questions, {len(train)} train questions for the most-common baseline; "
              f"wall {wall:.0f} s on 1 thread.", "", "| qid | question | reference | solver | F1 |",
              "|---|---|---|---|---|", *lines_q]
    if a.annotate:
        lines += ["", *annotation_lines(qs[: a.annotate])]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(
            "# Reference solver on M1-Synth's open-ended family\n\nCommand:\n\n```\n"
            ".venv/bin/python -m cli synth --out /tmp/oe_synth --split test --n 20 --seed 0 synth.open_ended=true\n"
            f".venv/bin/python benchmarks/open_ended.py /tmp/oe_synth/test --annotate {a.annotate} "
            "--out benchmarks/open_ended.md\n```\n\n"
            + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
