"""VSI-Bench loader: ``test-00000-of-00001.parquet`` (or M1-Synth's ``vsibench_<split>.parquet``).

Rows: ``id, dataset, scene_name, question_type, question, options, ground_truth``; the video is
``{dataset}/{scene_name}.mp4`` beside the parquet file (M1-Synth writes ``dataset="videos"``).
The official multiple-choice types carry lettered options (``"A. front-left"``) and a letter;
the official numeric types carry no options and a number as text. A type outside both lists
(e.g. one of M1-Synth's) is multiple choice when it has options, numeric otherwise.
``category`` is ``question_type``, the unit of VSI-Bench's per-task scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import (
    LoadContext,
    as_text,
    enumerate_rows,
    letter_answer,
    read_records,
    strip_letter_prefixes,
)
from m1.data.report import RowError
from m1.schema import Family, Question, TaskType

NAME = "vsibench"
DEFAULT_SPLIT = "test"
MC_TYPES = frozenset(
    [
        "object_rel_direction_easy",
        "object_rel_direction_medium",
        "object_rel_direction_hard",
        "object_rel_distance",
        "route_planning",
        "obj_appearance_order",
    ]
)
NUMERIC_TYPES = frozenset(["object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation"])
KNOWN_FIELDS = frozenset(["id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth"])


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    names = [
        f"vsibench_{ctx.split}.parquet",
        f"{ctx.split}/vsibench_{ctx.split}.parquet",
        f"{ctx.split}-00000-of-00001.parquet",
        f"data/{ctx.split}-00000-of-00001.parquet",
    ]
    path = ctx.find_file(names)
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    qtype = as_text(rec, "question_type")
    raw_options = rec.get("options")
    if raw_options is not None and (
        not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options)
    ):
        raise RowError(f"field 'options' must be a list of strings or null, got {raw_options!r}")
    options = strip_letter_prefixes(raw_options) if raw_options else []
    truth = as_text(rec, "ground_truth")
    is_mc = qtype in MC_TYPES or (qtype not in NUMERIC_TYPES and bool(options))
    if is_mc:
        if len(options) < 2:
            raise RowError(f"multiple-choice type {qtype!r} needs >= 2 options, got {raw_options!r}")
        answer, task_type = letter_answer(truth, len(options), "ground_truth"), TaskType.MULTIPLE_CHOICE
    else:
        if options:
            raise RowError(f"numeric type {qtype!r} should have no options, got {raw_options!r}")
        try:
            value = float(truth)
        except ValueError:
            raise RowError(f"numeric ground_truth must be a number, got {truth!r}") from None
        if not math.isfinite(value):
            raise RowError(f"numeric ground_truth must be finite, got {truth!r}")
        answer, task_type = truth.strip(), TaskType.NUMERIC
    dataset, scene = as_text(rec, "dataset"), as_text(rec, "scene_name")
    return Question(
        qid=as_text(rec, "id"),
        video=str(Path(ctx.cache["base"]) / dataset / f"{scene}.mp4"),
        question=as_text(rec, "question"),
        options=options,
        answer=answer,
        task_type=task_type,
        family=Family.SPATIAL,
        category=qtype,
        meta={"dataset": dataset, "scene_name": scene, "question_type": qtype},
    )
