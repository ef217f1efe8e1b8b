"""NExT-QA (multiple choice) loader: ``<split>.csv`` → Questions.

Columns: ``video, frame_count, width, height, question, answer, qid, type, a0 … a4``; ``answer``
is the index of the correct option. The qid is ``"<video>_<qid>"`` (``qid`` repeats across
videos). ``category`` is the fine type (CW, CH, TN, TC, TP, DL, DC, DO); ``meta["type_group"]``
its family (Causal, Temporal, Descriptive), the grouping NExT-QA reports. Videos:
``NExTVideo/<path>.mp4`` through ``map_vid_vidorID.json`` when present, else
``videos/<video>.mp4``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext, as_int, as_text, enumerate_rows, read_records
from m1.data.report import DataError, RowError
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "nextqa"
DEFAULT_SPLIT = "val"
TYPE_GROUPS = {"C": "Causal", "T": "Temporal", "D": "Descriptive"}
KNOWN_FIELDS = frozenset(
    ["video", "frame_count", "width", "height", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4"]
)


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    path = ctx.find_file([f"{ctx.split}.csv", f"nextqa/{ctx.split}.csv", f"mc/{ctx.split}.csv"])
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    mapping = path.parent / "map_vid_vidorID.json"
    ctx.cache["vid_map"] = {}
    if mapping.is_file():
        try:
            ctx.cache["vid_map"] = json.loads(mapping.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"cannot read {mapping}: {e}") from e
        ctx.report.files.append(str(mapping))
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    video = as_text(rec, "video")
    options = [as_text(rec, f"a{i}") for i in range(5)]
    index = as_int(rec, "answer")
    if not 0 <= index < 5:
        raise RowError(f"answer index {index} outside 0..4")
    qtype = as_text(rec, "type")
    base = Path(ctx.cache["base"])
    mapped = ctx.cache["vid_map"].get(video)
    path = base / "NExTVideo" / f"{mapped}.mp4" if mapped else base / "videos" / f"{video}.mp4"
    return Question(
        qid=f"{video}_{as_text(rec, 'qid')}",
        video=str(path),
        question=as_text(rec, "question"),
        options=options,
        answer=OPTION_LETTERS[index],
        task_type=TaskType.MULTIPLE_CHOICE,
        family=Family.REASONING,
        category=qtype,
        meta={
            "video_id": video,
            "type_group": TYPE_GROUPS.get(qtype[:1], "Other"),
            "frame_count": rec.get("frame_count"),
            "width": rec.get("width"),
            "height": rec.get("height"),
        },
    )
