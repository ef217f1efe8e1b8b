"""Our metrics (:func:`m1.data.score`) against lmms-eval's own scoring functions, on the same predictions.

For each benchmark, seeded documents in lmms-eval's document form (the hub parquet's fields) and
sets of predictions are scored twice: by lmms-eval's ``process_results`` + aggregation functions
(``lmms_eval.tasks.<task>.utils``), and by this project — documents read into questions with the
project's loaders (:func:`m1_lmms.questions.question_from_doc`, the plugin's own path) and scored
by :func:`m1.data.score`. Both are reported in percent.

Prediction sets:

- ``canonical`` — what the ``videochat_m1`` plugin returns: the team's canonical answers through
  :func:`m1_lmms.questions.format_answer` (a letter, a number, ``"The event happens in S - E
  seconds."``, open text), including exact metric boundaries (IoU exactly 0.3/0.5/0.7, a relative
  error exactly 10 %). These must agree.
- ``free text`` — assorted model phrasings (``"(B)"``, ``"The answer is C"``, ``"3 to 5"``, prose,
  nothing parseable); differences here are parser differences, explained in
  :mod:`m1.data.metrics`' docstring.
- ``partial`` rows — a subset of the benchmark's categories (what a ``--limit`` run sees), where
  the official aggregations divide by fixed category counts.

    .venv-lmms/bin/python -m m1_lmms.crosscheck [--n 240] [--seed 0] [--out benchmarks/lmms_crosscheck.md]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from m1.data import score
from m1.schema import OPTION_LETTERS
from m1_lmms.questions import format_answer, question_from_doc

FAKE_VIDEO = "/crosscheck/data/videos/v.mp4"  # never opened: scoring reads no video


@dataclass
class Row:
    benchmark: str
    predictions: str
    metric: str
    n: int
    ours: float
    lmms: float
    note: str = ""

    @property
    def equal(self) -> bool:
        return abs(self.ours - self.lmms) < 1e-6


def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
    """lmms-eval's aggregations print their tables; keep the report readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def ours(bench: str, task: str, docs: list[dict], preds: list[str]) -> tuple[list, dict[str, Any]]:
    qs = [question_from_doc(bench, d, FAKE_VIDEO, task, i) for i, d in enumerate(docs)]
    return qs, score(bench, qs, {q.qid: p for q, p in zip(qs, preds, strict=True)})


# --------------------------------------------------------------------------- predictions


def mc_free(rng: random.Random, letter: str, options: list[str]) -> str:
    """A free-text phrasing of ``letter`` (or of nothing)."""
    text = options[OPTION_LETTERS.index(letter)]
    return rng.choice([
        f"({letter})", f"{letter}.", f"{letter}. {text}", f"The answer is {letter}.", letter.lower(),
        f"Answer: {letter}", f"I think the correct option is {letter} because it fits the video best.",
        "I am not sure which one of these is shown in the video at all.", "", text,
    ])


def mc_pred(rng: random.Random, gold: str, n: int, free: bool, options: list[str]) -> str:
    letter = gold if rng.random() < 0.5 else OPTION_LETTERS[rng.randrange(n)]
    return mc_free(rng, letter, options) if free else letter


# --------------------------------------------------------------------------- benchmarks


def longvideobench(rng: random.Random, n: int, free: bool) -> list[Row]:
    from lmms_eval.tasks.longvideobench import utils as u

    docs, preds = [], []
    cats = ["S2E", "S2O", "S2A", "E2O", "O2E", "T2E", "T2O", "T2A", "E3E", "O3O", "SSS", "SOS", "SAA", "TOS", "T3E",
            "T3O", "TAA"]
    for i in range(n):
        k = rng.choice([4, 5])
        opts = [f"option text {i}-{j}" for j in range(k)]
        doc = {"id": f"lvb{i}", "video_id": f"v{i}", "video_path": "v.mp4", "question": f"question {i}?",
               "correct_choice": rng.randrange(k), "duration_group": rng.choice([15, 60, 600, 3600]),
               "question_category": rng.choice(cats), "duration": 30.0,
               **{f"option{j}": opts[j] if j < k else "N/A" for j in range(5)}}
        docs.append(doc)
        preds.append(mc_pred(rng, OPTION_LETTERS[doc["correct_choice"]], k, free, opts))
    _qs, rep = ours("longvideobench", "longvideobench_val_v", docs, preds)
    random.seed(0)  # lmms-eval answers an unparseable reply with random.choice
    results = [u.longvideobench_process_results(d, [p])["lvb_acc"] for d, p in zip(docs, preds, strict=True)]
    official = 100 * _quiet(u.longvideobench_aggregate_results, results)
    note = ("lmms-eval reads the first capital A-E anywhere ('Answer: B' -> A) and answers a reply without one "
            "by a random letter; we read B, or score 0") if free else ""
    return [Row("LongVideoBench", "free text" if free else "canonical", "accuracy", n, round(rep["overall"], 3),
                official, note)]


def videomme(rng: random.Random, n: int, free: bool) -> list[Row]:
    from lmms_eval.tasks.videomme import utils as u

    docs, preds = [], []
    for i in range(n):
        opts = [f"choice {i}-{j}" for j in range(4)]
        gold = rng.choice("ABCD")
        docs.append({"video_id": f"{i:03d}", "duration": rng.choice(u.VIDEO_TYPE), "domain": rng.choice(u.CATEGORIES),
                     "sub_category": rng.choice(u.SUB_CATEGORIES), "url": "", "videoID": f"vid{i}",
                     "question_id": f"{i:03d}-1", "task_type": rng.choice(u.TASK_CATEGORIES),
                     "question": f"question {i}?", "options": [f"{L}. {o}" for L, o in zip("ABCD", opts, strict=True)],
                     "answer": gold})
        preds.append(mc_pred(rng, gold, 4, free, opts))
    _qs, rep = ours("videomme", "videomme", docs, preds)
    results = [u.videomme_process_results(d, [p])["videomme_perception_score"]
               for d, p in zip(docs, preds, strict=True)]
    official = _quiet(u.videomme_aggregate_results, results)
    return [Row("Video-MME", "free text" if free else "canonical", "accuracy", n, round(rep["overall"], 6),
                round(official, 6), MCQ_NOTE if free else "")]


MCQ_NOTE = "lmms-eval's extract_mcq_answer reads neither a lone lower-case letter nor the option's text; we do"
VSI_MC = ["object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
          "object_rel_distance", "route_planning", "obj_appearance_order"]
VSI_NA = ["object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation"]


def vsibench(rng: random.Random, n: int, free: bool, types: list[str] | None = None,
             boundary: bool = False) -> list[Row]:
    from lmms_eval.tasks.vsibench import utils as u

    types = types or VSI_MC + VSI_NA
    docs, preds = [], []
    for i in range(n):
        qtype = types[i % len(types)]
        doc = {"id": i, "dataset": "arkitscenes", "scene_name": f"s{i}", "question_type": qtype,
               "question": f"question {i}?"}
        if qtype in VSI_MC:
            opts = [f"thing {j}" for j in range(4)]
            gold = rng.choice("ABCD")
            doc.update(options=[f"{L}. {o}" for L, o in zip("ABCD", opts, strict=True)], ground_truth=gold)
            preds.append(mc_pred(rng, gold, 4, free, opts))
        else:
            gt = rng.choice([2, 3, 4, 5, 7, 10, 12]) if qtype == "object_counting" else round(rng.uniform(0.5, 12), 1)
            doc.update(options=None, ground_truth=str(gt))
            # relative errors between the MRA thresholds, or (boundary) exactly on them: 5 %, 10 %, 25 %, 50 %
            errors = [0.05, 0.1, 0.25, 0.5] if boundary else [0.0, 0.03, 0.07, 0.12, 0.18, 0.33, 0.42, 0.8, 2.0]
            err = rng.choice(errors) * rng.choice([-1, 1])
            value = round(gt * (1 + err), 4)
            preds.append(rng.choice([f"{value}", f"about {value} meters", f"{value} m", "I cannot tell"])
                         if free else format(value, "g"))
        docs.append(doc)
    _qs, rep = ours("vsibench", "vsibench", docs, preds)
    results = [u.vsibench_process_results(dict(d), [p])["vsibench_overall"] for d, p in zip(docs, preds, strict=True)]
    label = ("free text" if free else "canonical") + ("" if len(types) == 10 else f" ({len(types)} of 10 types)")
    label += ", errors on MRA boundaries" if boundary else ""
    note = ("lmms-eval compares with 1 - np.linspace(...): float noise fails some exact boundaries; we count them"
            if boundary else "")
    if free:
        note = ("multiple choice: lmms-eval reads only the first word ('(B)', 'The answer is B' score 0); numbers: "
                "boundary float noise as above")
    rows = []
    try:
        sub = _quiet(u._compute_all_subscores, results)
    except KeyError as e:
        return [Row("VSI-Bench", label, "overall", n, round(rep["overall"], 3), float("nan"),
                    f"lmms-eval's aggregation raises KeyError {e} (a direction level absent); we average the levels "
                    "present")]
    by_task = rep["by_task"]
    for t in [*VSI_NA, *VSI_MC[3:], "object_rel_direction"]:
        key = f"{t}_MRA:.5:.95:.05" if t in VSI_NA else f"{t}_accuracy"
        if t in by_task and key in sub:
            rows.append(Row("VSI-Bench", label, t, sum(1 for d in docs if d["question_type"].startswith(t)),
                            round(by_task[t], 4), round(100 * sub[key], 4), note if t in VSI_NA or free else ""))
    rows.append(Row("VSI-Bench", label, "overall", n, round(rep["overall"], 4), round(100 * sub["overall"], 4), note))
    return rows


def charades(rng: random.Random, n: int, free: bool) -> list[Row]:
    from lmms_eval.tasks.charades_sta import utils as u

    docs, preds = [], []
    for i in range(n):
        s = round(rng.uniform(0, 20), 1)
        e = round(s + rng.uniform(2, 15), 1)
        docs.append({"video": f"V{i}.mp4", "caption": f"person does thing {i}", "timestamp": [s, e]})
        kind = rng.random()
        if kind < 0.3:  # exact thresholds: a prefix of the ground truth with IoU 0.3 / 0.5 / 0.7
            f = rng.choice([0.3, 0.5, 0.7])
            span = (s, s + (e - s) * f)
        elif kind < 0.4:  # touching or disjoint
            span = (e, e + 3.0)
        else:
            a = max(0.0, s + rng.uniform(-5, 5))
            span = (round(a, 2), round(a + rng.uniform(1, 12), 2))
        canonical = f"{span[0]} {span[1]}"
        if free:
            a, b = span
            preds.append(rng.choice([f"{a} to {b}", f"from {a}s to {b}s", f"The event starts at {a} and ends at {b}.",
                                     f"{a} {b}", f"{a}-{b}", "The person is not in the video."]))
        else:
            q = question_from_doc("charades_sta", docs[-1], FAKE_VIDEO, "charades", i)
            preds.append(format_answer(q, canonical))
    _qs, rep = ours("charades_sta", "temporal_grounding_charades", docs, preds)
    results = [u.temporal_grounding_process_results_generation(d, [p])["charades_sta_mIOU"]
               for d, p in zip(docs, preds, strict=True)]
    official = _quiet(u._temporal_grounding_compute_metrics, results)
    label = "free text" if free else "canonical"
    note = ("lmms-eval's extract_time needs a dash or 'to' between the numbers: '3.5 7.2' and 'starts at 3.5 and "
            "ends at 7.2' score IoU 0 there") if free else ""
    return [Row("Charades-STA", label, ours_key, n, round(rep[ours_key], 4), round(official[lmms_key], 4), note)
            for ours_key, lmms_key in (("R1@0.3", "IOU@3"), ("R1@0.5", "IOU@5"), ("R1@0.7", "IOU@7"),
                                       ("mIoU", "mIOU"))]


MLVU_DEV = ["anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning"]


def mlvu(rng: random.Random, n: int, free: bool, tasks: list[str] | None = None) -> list[Row]:
    from lmms_eval.tasks.mlvu import utils as u

    tasks = tasks or MLVU_DEV
    docs, preds = [], []
    for i in range(n):
        opts = [f"answer {i}-{j}" for j in range(4)]
        gold = rng.choice("ABCD")
        q = f"question {i}?\n" + "\n".join(f"({L}) {o}" for L, o in zip("ABCD", opts, strict=True))
        docs.append({"video_name": f"v{i}.mp4", "duration": 300.0, "question": q, "candidates": opts,
                     "answer": gold, "task_type": tasks[i % len(tasks)], "question_id": f"q{i}"})
        preds.append(mc_pred(rng, gold, 4, free, opts))
    _qs, rep = ours("mlvu", "mlvu_dev", docs, preds)
    results = [u.mlvu_process_results(d, [p])["mlvu_percetion_score"] for d, p in zip(docs, preds, strict=True)]
    official = _quiet(u.mlvu_aggregate_results_dev, results)
    label = ("free text" if free else "canonical") + ("" if len(tasks) == 7 else f" ({len(tasks)} of 7 tasks)")
    note = "" if len(tasks) == 7 else "lmms-eval divides by all 7 dev tasks; we average the tasks present"
    note = MCQ_NOTE if free else note
    return [Row("MLVU (dev)", label, "M-Avg", n, round(rep["M-Avg"], 6), round(official, 6), note)]


def videommmu(rng: random.Random, n: int, free: bool) -> list[Row]:
    import os

    os.environ.setdefault("HF_HOME", os.path.expanduser("~/.cache/huggingface"))  # read at import, not used
    from lmms_eval.tasks.videommmu import utils as u

    subjects = [s for subs in u.DOMAIN_CAT2SUB_CAT.values() for s in subs]
    docs, preds = [], []
    for i in range(n):
        doc = {"id": f"validation_{rng.choice(subjects)}_{i}", "question": f"question {i}?"}
        if rng.random() < 0.7:
            k = rng.choice([4, 5, 7, 10])
            opts = [f"option {i}-{j}" for j in range(k)]
            gold = OPTION_LETTERS[rng.randrange(k)]
            doc.update(question_type="multiple-choice", options=opts, answer=gold)
            preds.append(mc_pred(rng, gold, k, free, opts))
        else:
            gold_num = round(rng.uniform(1, 500), rng.choice([0, 1, 2]))
            doc.update(question_type="open", options=[], answer=f"{gold_num:g}")
            guess = gold_num if rng.random() < 0.5 else round(gold_num * 1.1, 2)
            preds.append(rng.choice([f"The answer is {guess}.", f"{guess}", f"It is about {guess} units", ""])
                         if free else f"{guess:g}")
        docs.append(doc)
    _qs, rep = ours("videommmu", "video_mmmu_perception", docs, preds)
    results = [u.videommmu_process_results(d, [p])["mmmu_acc"] for d, p in zip(docs, preds, strict=True)]
    official = 100 * _quiet(u.videommmu_aggregate_results, results)
    note = ("lmms-eval drops empty replies ('API Error') from the denominator, we score them 0; " + MCQ_NOTE
            ) if free else ""
    return [Row("VideoMMMU", "free text" if free else "canonical", "accuracy", n, round(rep["overall"], 3),
                round(official, 3), note)]


def run(n: int = 240, seed: int = 0) -> list[Row]:
    rows: list[Row] = []
    for free in (False, True):
        for fn in (longvideobench, videomme, vsibench, charades, mlvu, videommmu):
            rows += fn(random.Random(f"{seed}-{fn.__name__}-{free}"), n, free)
    rows += vsibench(random.Random(f"{seed}-vsi-boundary"), n, False, boundary=True)
    rows += vsibench(random.Random(f"{seed}-vsi-partial"), n // 2, False, VSI_MC[:2] + VSI_NA)
    rows += mlvu(random.Random(f"{seed}-mlvu-partial"), n // 2, False, MLVU_DEV[:5])
    return rows


def table(rows: list[Row]) -> str:
    out = ["| benchmark | predictions | metric | n | m1 (%) | lmms-eval (%) | equal | note |",
           "|---|---|---|---:|---:|---:|:-:|---|"]
    for r in rows:
        out.append(f"| {r.benchmark} | {r.predictions} | {r.metric} | {r.n} | {r.ours:.4f} | {r.lmms:.4f} | "
                   f"{'yes' if r.equal else '**no**'} | {r.note} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m m1_lmms.crosscheck", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=240, help="Documents per benchmark and prediction set (default 240).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="Also write the table to this file.")
    args = p.parse_args(argv)
    from loguru import logger

    logger.remove()  # lmms-eval logs every aggregation at INFO
    logger.add(sys.stderr, level="WARNING")
    rows = run(args.n, args.seed)
    text = table(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    canonical_bad = [r for r in rows if r.predictions == "canonical" and not r.equal]  # exact label: no variants
    if canonical_bad:
        print(f"{len(canonical_bad)} canonical row(s) disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
