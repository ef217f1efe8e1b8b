"""Questions worded our own way (none of M1-Synth's templates) over M1-Synth videos: the tools alone
(the reference solver) per question type, against chance. Ground truth comes from each video's
event log, never from the tools.

Question types (4 options each, distractors drawn with a fixed seed):
- ``text``: "What text is shown on screen?" — one of the video's captions vs captions of other videos;
- ``presence``: "Which of these shapes shows up in the clip?" — one object of the video vs three absent;
- ``count_end``: "How many <colour> <shape>s are visible at the end of the video?" (fully visible);
- ``count_at``: "How many shapes can be seen at <t> s?" (fully visible objects).

Usage: .venv/bin/python benchmarks/reworded_synth.py /tmp/m1s/test --videos 10 --md benchmarks/reworded_synth.md
(make the split with ``m1 synth --out /tmp/m1s --split test --n 30 --seed 0``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

from m1.data.scoring import score_question
from m1.schema import OPTION_LETTERS, Question, TaskType
from m1.synth.world import EventLog
from m1.tools.perception.objects import COLOUR_NAMES, SHAPE_NAMES
from m1.tools.solver import solve

ALL_NAMES = [f"{c} {s}" for c in COLOUR_NAMES if c != "white" for s in SHAPE_NAMES]


def _mc(rng: random.Random, qid: str, video: str, text: str, right: str, wrong: list[str], cat: str) -> Question:
    opts = [right, *rng.sample(wrong, 3)]
    rng.shuffle(opts)
    return Question(qid=qid, video=video, question=text, options=opts, answer=OPTION_LETTERS[opts.index(right)],
                    task_type=TaskType.MULTIPLE_CHOICE, category=cat)


def questions(split: Path, n_videos: int, seed: int = 0) -> list[Question]:
    rng = random.Random(seed)
    logs = [(p, EventLog.model_validate_json(p.read_text())) for p in sorted((split / "events").glob("*.json"))]
    all_caps = sorted({c.text for _, lg in logs for c in lg.captions})
    out: list[Question] = []
    for p, lg in logs[:n_videos]:
        video = str(split / "videos" / f"{p.stem}.mp4")
        if lg.captions:
            c = rng.choice(lg.captions)
            others = [x for x in all_caps if x not in {k.text for k in lg.captions}]
            out.append(_mc(rng, f"{p.stem}-text", video, "What text is shown on screen?", c.text, others, "text"))
        names = sorted({o.name for o in lg.objects})
        absent = [n for n in ALL_NAMES if n not in names]
        out.append(_mc(rng, f"{p.stem}-presence", video, "Which of these shapes shows up in the clip?",
                       rng.choice(names), absent, "presence"))
        t_end = lg.duration - 1.0 / lg.fps
        end = [o for o in lg.objects if lg.is_fully_visible(o, t_end)]
        target = rng.choice(end).name if end else rng.choice(names)
        colour, shape = target.split()
        k = sum(1 for o in end if o.name == target)
        out.append(_mc(rng, f"{p.stem}-count_end", video,
                       f"How many {colour} {shape}s are visible at the end of the video?",
                       str(k), [str(i) for i in range(4) if i != k], "count_end"))
        t = round(rng.uniform(1.0, lg.duration - 1.0), 1)
        full = [o for o in lg.objects if lg.is_fully_visible(o, t)]
        k = len(full)
        out.append(_mc(rng, f"{p.stem}-count_at", video, f"How many shapes can be seen at {t} s?", str(k),
                       [str(i) for i in range(max(0, k - 2), k + 4) if i != k], "count_at"))
    return out


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir")
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    qs = questions(Path(a.split_dir), a.videos)
    rows = []
    t0 = time.time()
    for q in qs:
        s = solve(q)
        sc = score_question(q, s.answer).score
        rows.append((q.category, sc, s))
        print(f"{q.qid}: {q.question} {q.options} answer={s.answer} truth={q.answer} conf={s.confidence:.2f}",
              file=sys.stderr)
    wall = time.time() - t0
    lines = ["| question type | n | tools alone (accuracy) | chance | answered | frames/q | s/q |",
             "|---|---|---|---|---|---|---|"]
    for cat in sorted({r[0] for r in rows}):
        rs = [r for r in rows if r[0] == cat]
        n = len(rs)
        lines.append(f"| {cat} | {n} | {sum(r[1] for r in rs) / n:.2f} | 0.25 | "
                     f"{sum(r[2].answer is not None for r in rs)}/{n} | {sum(r[2].frames_used for r in rs) / n:.1f} | "
                     f"{sum(r[2].seconds for r in rs) / n:.1f} |")
    lines.append(f"\nAll {len(rows)}: {sum(r[1] for r in rows) / len(rows):.2f} accuracy vs 0.25 chance; "
                 f"wall {wall:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if a.md:
        Path(a.md).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
