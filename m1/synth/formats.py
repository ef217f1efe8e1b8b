"""Write M1-Synth questions in the real benchmarks' on-disk formats, and read a split back.

Per split directory::

    videos/<video_id>.mp4            H.264 videos
    subtitles/<video_id>_en.json     LongVideoBench subtitle files (empty: the videos have no speech)
    events/<video_id>.json           exact event logs (ground truth of everything)
    lvb_<split>.json                 long_video + reasoning questions as LongVideoBench records
    charades_sta_<split>.txt         grounding questions as Charades-STA lines
    vsibench_<split>.parquet         spatial questions as VSI-Bench rows
    open_ended_<split>.jsonl         open-ended questions (synth.open_ended), one record a line
    questions.jsonl                  every question in the project's neutral form (m1.schema.Question)
    manifest.json                    generator version, arguments, per-video seeds and checksums

The format files are what the benchmark loaders of :mod:`m1.data` read, so synthetic and
real data go through the same loaders and metrics; ``questions.jsonl`` is the exact ground
truth in neutral form, which :func:`read_split` returns directly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from m1.errors import UserError
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

LVB_DURATION_GROUPS = (15, 60, 600, 3600)


def lvb_duration_group(duration: float) -> int:
    """LongVideoBench buckets: (8, 15], (15, 60], (180, 600], (900, 3600] seconds → 15/60/600/3600.

    Durations between buckets go to the next larger one.
    """
    for g in LVB_DURATION_GROUPS:
        if duration <= g:
            return g
    return LVB_DURATION_GROUPS[-1]


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def lvb_record(q: Question) -> dict:
    vid = q.meta["video_id"]
    return {
        "video_id": vid,
        "question": q.question,
        "question_wo_referring_query": q.question,
        "candidates": list(q.options),
        "correct_choice": OPTION_LETTERS.index(q.answer),
        "position": [],
        "topic_category": q.family.value if q.family else "",
        "question_category": q.category,
        "level": "L1" if q.family == Family.LONG_VIDEO else "L2",
        "id": q.qid,
        "video_path": f"{vid}.mp4",
        "subtitle_path": f"{vid}_en.json",
        "duration_group": lvb_duration_group(q.duration or 0.0),
        "starting_timestamp_for_subtitles": 0,
        "duration": q.duration,
        "view_count": 0,
    }


def open_record(q: Question) -> dict:
    """An open-ended question as one line of ``open_ended_<split>.jsonl`` (no real benchmark has
    this form, so the record is the question's own fields; read by :mod:`m1.data.loaders.synth_open`)."""
    return {"id": q.qid, "video_id": q.meta["video_id"], "question": q.question, "answer": q.answer,
            "metric": q.meta["open_metric"], "category": q.category, "duration": q.duration}


def charades_line(q: Question) -> str:
    start, end = (float(x) for x in q.answer.split())
    return f"{q.meta['video_id']} {start:.2f} {end:.2f}##{q.question}"


def write_split_files(split_dir: Path, split: str, questions: list[Question], video_ids: list[str]) -> dict[str, int]:
    """Write the format files of a split; returns the number of questions per file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    split_dir.mkdir(parents=True, exist_ok=True)
    subs = split_dir / "subtitles"
    subs.mkdir(exist_ok=True)
    for vid in video_ids:
        atomic_write_text(subs / f"{vid}_en.json", "[]\n")

    mc = [q for q in questions if q.family in (Family.LONG_VIDEO, Family.REASONING)]
    atomic_write_text(split_dir / f"lvb_{split}.json", json.dumps([lvb_record(q) for q in mc], indent=1) + "\n")

    ground = [q for q in questions if q.family == Family.GROUNDING]
    atomic_write_text(split_dir / f"charades_sta_{split}.txt", "".join(charades_line(q) + "\n" for q in ground))

    open_ended = [q for q in questions if q.family == Family.OPEN_ENDED]
    if open_ended:
        atomic_write_text(split_dir / f"open_ended_{split}.jsonl",
                          "".join(json.dumps(open_record(q)) + "\n" for q in open_ended))

    spatial = [q for q in questions if q.family == Family.SPATIAL]
    table = pa.table(
        {
            "id": pa.array(list(range(len(spatial))), type=pa.int64()),
            "dataset": pa.array(["videos"] * len(spatial), type=pa.string()),
            "scene_name": pa.array([q.meta["video_id"] for q in spatial], type=pa.string()),
            "question_type": pa.array([q.category for q in spatial], type=pa.string()),
            "question": pa.array([q.question for q in spatial], type=pa.string()),
            "options": pa.array(
                [q.lettered_options() if q.task_type == TaskType.MULTIPLE_CHOICE else None for q in spatial],
                type=pa.list_(pa.string()),
            ),
            "ground_truth": pa.array([q.answer for q in spatial], type=pa.string()),
        }
    )
    tmp = split_dir / f"vsibench_{split}.parquet.tmp"
    # no statistics/timestamps that could vary between runs; fixed codec for byte-identical files
    pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    os.replace(tmp, split_dir / f"vsibench_{split}.parquet")

    atomic_write_text(
        split_dir / "questions.jsonl", "".join(q.model_dump_json() + "\n" for q in questions)
    )
    opened = {"open_ended": len(open_ended)} if open_ended else {}
    return {"lvb": len(mc), "charades_sta": len(ground), "vsibench": len(spatial), **opened, "all": len(questions)}


def of_families(questions: list[Question], families: list[Family] | None, setting: str, where: str) -> list[Question]:
    """The questions of ``families`` in their order (all when ``families`` is None); a filter that
    keeps nothing is a :class:`~m1.errors.UserError` naming ``setting`` and ``where``."""
    if families is None:
        return list(questions)
    out = [q for q in questions if q.family in families]
    if not out:
        raise UserError(f"{setting}={[f.value for f in families]}: no question of {where} is of these families "
                        "(the open-ended family is generated only with synth.open_ended=true)")
    return out


def read_split(split_dir: str | Path) -> list[Question]:
    """All questions of a generated split, with ``video`` as an absolute path."""
    split_dir = Path(split_dir).resolve()
    path = split_dir / "questions.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {split_dir} an M1-Synth split directory (m1 synth --out)?")
    out = []
    with path.open() as f:
        for line in f:
            if line.strip():
                q = Question.model_validate_json(line)
                q.video = str(split_dir / q.video)
                out.append(q)
    return out
