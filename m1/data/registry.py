"""The benchmark registry: names → loaders and scoring rules, and the two entry points.

``load_benchmark(name, data_dir, split=None, limit=None)`` returns a
:class:`~m1.data.report.LoadResult`; ``score(name, questions, predictions)`` returns the
benchmark's report (see :mod:`m1.data.scoring`). ``m1_synth`` reads M1-Synth's split folder,
which holds the three real formats (LongVideoBench JSON, VSI-Bench parquet, Charades-STA text),
through the same loaders, and its open-ended family (``synth.open_ended``) through
:mod:`m1.data.loaders.synth_open`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from m1.data.loaders import (
    charades_sta,
    egoschema,
    longvideobench,
    mlvu,
    nextqa,
    synth_open,
    video_holmes,
    videomme,
    videommmu,
    vsibench,
)
from m1.data.loaders.base import LoadContext, run_loader
from m1.data.report import DataError, IssueKind, LoadReport, LoadResult
from m1.data.scoring import aggregate, score_question
from m1.schema import Question


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    loader: ModuleType | None  # None: a composite (m1_synth)
    default_split: str
    aggregation: str
    groups: Mapping[str, str] = field(default_factory=dict)  # report key → meta key


BENCHMARKS: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in [
        BenchmarkSpec("longvideobench", longvideobench, "val", "accuracy", {"by_duration_group": "duration_group"}),
        BenchmarkSpec("video_holmes", video_holmes, "test", "accuracy"),
        BenchmarkSpec("videommmu", videommmu, "all", "accuracy", {"by_question_type": "question_type"}),
        BenchmarkSpec("vsibench", vsibench, "test", "vsibench"),
        BenchmarkSpec("charades_sta", charades_sta, "test", "grounding"),
        BenchmarkSpec("mlvu", mlvu, "dev", "mlvu"),
        BenchmarkSpec("videomme", videomme, "test", "accuracy", {"by_duration": "duration", "by_domain": "domain"}),
        BenchmarkSpec("egoschema", egoschema, "subset", "accuracy"),
        BenchmarkSpec("nextqa", nextqa, "val", "accuracy", {"by_type_group": "type_group"}),
        BenchmarkSpec("m1_synth", None, "test", "mixed"),
    ]
}
ALIASES = {"lvb": "longvideobench", "holmes": "video_holmes", "vsi": "vsibench", "charades": "charades_sta"}
SYNTH_PARTS = (longvideobench, vsibench, charades_sta, synth_open)


def get_spec(name: str) -> BenchmarkSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[key]


def load_benchmark(
    name: str,
    data_dir: str | Path,
    split: str | None = None,
    limit: int | None = None,
    *,
    require_videos: bool = True,
) -> LoadResult:
    """Load one split of a benchmark from a local directory; every problem is in the report.

    ``require_videos=False`` keeps questions whose video file is missing (still reported)."""
    spec = get_spec(name)
    split = split or spec.default_split
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{spec.name}: data dir {data_dir} does not exist")
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0, got {limit}")
    if spec.loader is not None:
        ctx = LoadContext(data_dir, split, LoadReport(benchmark=spec.name, split=split), require_videos)
        m = spec.loader
        return run_loader(ctx, m.records, m.convert, m.KNOWN_FIELDS, limit)
    return _load_synth(data_dir, split, limit, require_videos)


def _load_synth(data_dir: Path, split: str, limit: int | None, require_videos: bool) -> LoadResult:
    split_dir = data_dir / split if (data_dir / split).is_dir() else data_dir
    report = LoadReport(benchmark="m1_synth", split=split)
    questions: list[Question] = []
    found = 0
    for part in SYNTH_PARTS:
        remaining = None if limit is None else limit - len(questions)
        if remaining == 0:
            break
        ctx = LoadContext(split_dir, split, LoadReport(benchmark=part.NAME, split=split), require_videos)
        try:
            result = run_loader(ctx, part.records, part.convert, part.KNOWN_FIELDS, remaining)
        except DataError as e:
            if "no annotation file" in str(e):
                continue  # a split may lack a family; at least one must exist (checked below)
            raise
        found += 1
        report.files += result.report.files
        report.rows_read += result.report.rows_read
        report.issues += result.report.issues
        questions += result.questions
    if not found:
        raise DataError(f"m1_synth: no LVB, VSI-Bench or Charades-STA file for split {split!r} in {split_dir}")
    # Each format's loader checks its own qids; the union must be unique too.
    seen: set[str] = set()
    unique = []
    for q in questions:
        if q.qid in seen:
            report.add(IssueKind.DUPLICATE_ID, q.qid, f"qid {q.qid!r} repeats across formats; row dropped")
        else:
            seen.add(q.qid)
            unique.append(q)
    report.loaded = len(unique)
    return LoadResult(questions=unique, report=report)


def score(name: str, questions: Sequence[Question], predictions: Mapping[str, str | None]) -> dict[str, Any]:
    """Score raw predictions (qid → model text) the way the benchmark's official script does."""
    spec = get_spec(name)
    labelled = [q for q in questions if q.answer is not None]
    scores = [score_question(q, predictions.get(q.qid)) for q in labelled]
    out = {"benchmark": spec.name, **aggregate(spec.aggregation, labelled, scores, spec.groups)}
    out["unlabelled"] = len(questions) - len(labelled)
    known = {q.qid for q in questions}
    out["unknown_predictions"] = sum(1 for k in predictions if k not in known)
    return out
