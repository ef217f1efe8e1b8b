"""VideoMMMU loader: the ``Perception`` / ``Comprehension`` / ``Adaptation`` configs → Questions.

Each config is a parquet file (``<Config>/test-*.parquet``) or a JSON list (``<config>.json``)
with ``id, question, options, answer, question_type`` (``"multiple-choice"`` or ``"open"``).
``split`` selects one config (case-insensitive) or ``"all"`` for the three. Multiple-choice
answers are letters; open answers are kept as text with ``task_type=OPEN_ENDED`` (scored by
normalised number/string match). ``category`` is the config (the paper's track); the
question type goes to ``meta``. Videos are ``{id}.mp4`` under ``videos/``, the config folder
or the data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext, as_text, enumerate_rows, letter_answer, read_records, require
from m1.data.report import DataError, RowError
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "videommmu"
DEFAULT_SPLIT = "all"
CONFIGS = ("Perception", "Comprehension", "Adaptation")
# __config__/__base__ are added by records() to carry the config and folder; not in the files.
KNOWN_FIELDS = frozenset(
    ["id", "question", "options", "answer", "question_type", "link_selected", "image", "__config__", "__base__"]
)


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    wanted = CONFIGS if ctx.split.lower() == "all" else [c for c in CONFIGS if c.lower() == ctx.split.lower()]
    if not wanted:
        raise DataError(f"videommmu: unknown split {ctx.split!r}; use one of {', '.join(CONFIGS)} or 'all'")
    for config in wanted:
        found = sorted((ctx.data_dir / config).glob("*.parquet")) if (ctx.data_dir / config).is_dir() else []
        path = found[0] if found else ctx.find_file([f"{config}.json", f"{config.lower()}.json"])
        ctx.report.files.append(str(path))
        for where, rec in enumerate_rows(path, read_records(path), ctx.data_dir):
            if isinstance(rec, dict):
                rec = {**rec, "__config__": config, "__base__": str(path.parent)}
            yield where, rec


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    config = rec.pop("__config__")
    base = Path(rec.pop("__base__"))
    qid = as_text(rec, "id")
    qtype = as_text(rec, "question_type")
    options = rec.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise RowError(f"field 'options' must be a list of strings, got {options!r}")
    options = [o for o in options if o.strip()]  # open questions ship [] or [""]
    raw_answer = require(rec, "answer")
    if qtype == "multiple-choice":
        if not 2 <= len(options) <= len(OPTION_LETTERS):
            raise RowError(f"multiple-choice question needs 2..{len(OPTION_LETTERS)} options, got {len(options)}")
        answer, task_type = letter_answer(raw_answer, len(options)), TaskType.MULTIPLE_CHOICE
    elif qtype == "open":
        answer, task_type = str(raw_answer).strip(), TaskType.OPEN_ENDED
        if not answer:
            raise RowError("open question with an empty answer")
    else:
        raise RowError(f"field 'question_type' must be 'multiple-choice' or 'open', got {qtype!r}")
    video = ctx.first_existing(
        base / "videos" / f"{qid}.mp4", base / f"{qid}.mp4", ctx.data_dir / "videos" / f"{qid}.mp4"
    )
    return Question(
        qid=qid,
        video=str(video),
        question=as_text(rec, "question"),
        options=options if task_type == TaskType.MULTIPLE_CHOICE else [],
        answer=answer,
        task_type=task_type,
        family=Family.REASONING,
        category=config,
        meta={"track": config, "question_type": qtype},
    )
