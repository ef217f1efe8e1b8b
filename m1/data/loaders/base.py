"""Shared machinery of the benchmark loaders: reading annotation files and the row-by-row driver.

A loader is two functions: ``records(ctx)`` yields ``(where, record)`` pairs from the benchmark's
files, ``convert(ctx, where, record)`` turns one record into a :class:`~m1.schema.Question` (or
raises :class:`RowError`). :func:`run_loader` drives them and does everything common: unknown
fields, malformed rows, duplicate ids, missing videos and ``limit`` — so that no loader can
skip a row silently. This module knows no benchmark.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from m1.data.report import DataError, IssueKind, LoadReport, LoadResult, RowError
from m1.schema import OPTION_LETTERS, Question


@dataclass
class LoadContext:
    """What a loader needs besides the rows: where the data is, and the report to write to."""

    data_dir: Path
    split: str
    report: LoadReport
    require_videos: bool = True
    cache: dict[Any, Any] = field(default_factory=dict)

    def first_existing(self, *candidates: Path) -> Path:
        """The first candidate path that exists, else the first candidate (reported missing later)."""
        for c in candidates:
            if c.exists():
                return c
        return candidates[0]

    def find_file(self, names: Iterable[str]) -> Path:
        """The first of ``names`` (relative to the data dir) that exists; DataError lists all tried."""
        tried = []
        for name in names:
            path = self.data_dir / name
            tried.append(str(path))
            if path.is_file():
                return path
        raise DataError(f"{self.report.benchmark}/{self.split}: no annotation file; tried " + ", ".join(tried))


def read_records(path: Path) -> list[Any]:
    """Rows of a JSON list, JSON-lines, parquet or CSV file; DataError if it cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq  # imported here: only parquet benchmarks pay for it

            return pq.read_table(path).to_pylist()
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        text = path.read_text(encoding="utf-8")
        if suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    except Exception as e:  # pyarrow raises its own hierarchy (ArrowInvalid, ...)
        raise DataError(f"cannot read {path}: {type(e).__name__}: {e}") from e
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def enumerate_rows(path: Path, rows: list[Any], data_dir: Path) -> Iterator[tuple[str, Any]]:
    try:
        name = str(path.relative_to(data_dir))
    except ValueError:
        name = str(path)
    for i, row in enumerate(rows):
        yield f"{name}[{i}]", row


# --- field access: each helper raises RowError with the field name and the bad value ---


def require(rec: dict[str, Any], key: str) -> Any:
    if key not in rec or rec[key] is None:
        raise RowError(f"missing field {key!r}")
    return rec[key]


def as_text(rec: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = require(rec, key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # ids stored as numbers in some releases
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise RowError(f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def as_float(rec: dict[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = rec.get(key)
    if value is None and optional:
        return None
    if value is None:
        raise RowError(f"missing field {key!r}")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float(10**400)
        raise RowError(f"field {key!r} must be a number, got {value!r}") from None
    if not math.isfinite(out) or isinstance(value, bool):
        raise RowError(f"field {key!r} must be a finite number, got {value!r}")
    return out


def as_int(rec: dict[str, Any], key: str) -> int:
    value = require(rec, key)
    if isinstance(value, bool):
        raise RowError(f"field {key!r} must be an integer, got {value!r}")
    try:
        out = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise RowError(f"field {key!r} must be an integer, got {value!r}") from None
    if isinstance(value, float) and value != out:
        raise RowError(f"field {key!r} must be an integer, got {value!r}")
    return out


def as_text_list(rec: dict[str, Any], key: str, *, min_len: int = 2) -> list[str]:
    value = require(rec, key)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RowError(f"field {key!r} must be a list of strings, got {value!r}")
    if not min_len <= len(value) <= len(OPTION_LETTERS):
        raise RowError(f"field {key!r} must have {min_len}..{len(OPTION_LETTERS)} entries, got {len(value)}")
    return list(value)


def letter_answer(answer: Any, n_options: int, key: str = "answer") -> str:
    """A ground-truth letter, checked against the number of options."""
    if not isinstance(answer, str) or answer.strip().upper() not in OPTION_LETTERS[:n_options]:
        raise RowError(f"field {key!r} must be a letter A..{OPTION_LETTERS[n_options - 1]}, got {answer!r}")
    return answer.strip().upper()


def strip_letter_prefixes(options: list[str]) -> list[str]:
    """``["A. left", "B. right"]`` → ``["left", "right"]``; options must be lettered in order."""
    out = []
    for i, o in enumerate(options):
        head = o.lstrip()
        letter = OPTION_LETTERS[i]
        for prefix in (f"{letter}.", f"({letter})", f"{letter})", f"{letter}:"):
            if head.startswith(prefix):
                out.append(head[len(prefix) :].strip())
                break
        else:
            raise RowError(f"option {i} should start with {letter!r}., got {o!r}")
    return out


# --- the driver ---

Records = Callable[[LoadContext], Iterable[tuple[str, Any]]]
Convert = Callable[[LoadContext, str, dict[str, Any]], Question]


def run_loader(
    ctx: LoadContext, records: Records, convert: Convert, known_fields: frozenset[str], limit: int | None = None
) -> LoadResult:
    """Convert every record, reporting each problem; stop once ``limit`` questions are loaded."""
    report = ctx.report
    questions: list[Question] = []
    seen: set[str] = set()
    unknown: dict[str, list[str]] = {}
    for where, rec in records(ctx):
        if limit is not None and len(questions) >= limit:
            break
        report.rows_read += 1
        if not isinstance(rec, dict):
            report.add(IssueKind.MALFORMED_ROW, where, f"expected an object, got {type(rec).__name__}")
            continue
        for key in rec:
            if key not in known_fields:
                unknown.setdefault(str(key), []).append(where)
        try:
            q = convert(ctx, where, rec)
        except (RowError, ValidationError) as e:
            report.add(IssueKind.MALFORMED_ROW, where, _one_line(e))
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            # A value of a type no check anticipated (a list where a name was expected, ...):
            # still one bad row, reported with its cause, never the end of the load.
            report.add(IssueKind.MALFORMED_ROW, where, f"unexpected value: {type(e).__name__}: {e}")
            continue
        if q.qid in seen:
            report.add(IssueKind.DUPLICATE_ID, where, f"qid {q.qid!r} already loaded; row dropped")
            continue
        if not Path(q.video).is_file():
            report.add(IssueKind.MISSING_VIDEO, where, f"{q.qid}: no video at {q.video}")
            if ctx.require_videos:
                continue
        if q.answer is None:
            report.add(IssueKind.UNLABELLED, where, f"{q.qid}: no ground truth")
        seen.add(q.qid)
        questions.append(q)
    for key, wheres in unknown.items():
        report.add(IssueKind.UNKNOWN_FIELD, wheres[0], f"unknown field {key!r} in {len(wheres)} row(s); ignored")
    report.loaded = len(questions)
    return LoadResult(questions=questions, report=report)


def _one_line(e: Exception) -> str:
    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']} (got {x.get('input')!r})" for x in e.errors())
    return str(e)
