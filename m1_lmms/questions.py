"""lmms-eval documents → the project's :class:`~m1.schema.Question`, and team answers → the text
each lmms-eval task's scorer parses. No lmms-eval import here (testable in the project's .venv).

An lmms-eval request names its task (``longvideobench_val_v``, ``temporal_grounding_charades``,
``vsibench``, ``m1_synth_lvb``, ...) and gives the task's *document*: the benchmark's own record
(the hub parquet's row, or a local file's record). :func:`benchmark_of_task` maps the task name to
one of the project's benchmark loaders and :func:`question_from_doc` runs that loader's
``convert`` on the document — the same code ``m1 eval`` reads the files with — so the team sees
the same question either way. The video is the path the task's ``doc_to_visual`` resolved.

:func:`format_answer` turns the team's canonical answer (an option letter, a number, ``"start
end"`` seconds, free text; see :func:`m1.team.answers.parse_answer`) into the text the task's scorer
reads: a letter and a plain decimal number pass unchanged (every multiple-choice extractor and
VSI-Bench's ``extract_number`` read them; a number in another notation is rewritten as a plain
decimal, since ``extract_number`` reads ``"1e-05"`` as 1), a span becomes ``"The event happens
in S - E seconds."`` — the Charades-STA ``extract_time`` reads two numbers only around a dash, so
``"3.0 5.5"`` would be unparseable there (IoU 0).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext
from m1.data.registry import BENCHMARKS
from m1.data.report import LoadReport, RowError
from m1.schema import Question, TaskType

# the project's benchmark registry's loaders (m1_synth, a composite of them, has none of its own)
LOADERS = {name: spec.loader for name, spec in BENCHMARKS.items() if spec.loader is not None}
# task-name fragments → benchmark, first match wins (lmms-eval's names, then this project's local tasks)
TASK_PATTERNS: tuple[tuple[str, str], ...] = (
    ("longvideobench", "longvideobench"), ("lvb", "longvideobench"),
    ("videomme", "videomme"), ("video_mme", "videomme"),
    ("vsibench", "vsibench"), ("vsi_bench", "vsibench"),
    ("charades", "charades_sta"), ("temporal_grounding", "charades_sta"),
    ("mlvu", "mlvu"),
    ("videommmu", "videommmu"), ("video_mmmu", "videommmu"),
    ("video_holmes", "video_holmes"), ("videoholmes", "video_holmes"),
    ("egoschema", "egoschema"), ("nextqa", "nextqa"),
)


class TaskDocError(ValueError):
    """An lmms-eval request this plugin cannot turn into a question (unknown task, bad document)."""


def benchmark_of_task(task: str, override: str | None = None) -> str:
    """The project benchmark whose loader reads ``task``'s documents (``override`` wins)."""
    if override:
        if override not in LOADERS:
            raise TaskDocError(f"benchmark={override!r} is not one of {', '.join(sorted(LOADERS))}")
        return override
    name = task.lower()
    for fragment, bench in TASK_PATTERNS:
        if fragment in name:
            return bench
    raise TaskDocError(
        f"lmms-eval task {task!r}: no benchmark loader for it; the plugin reads tasks of "
        f"{', '.join(sorted(LOADERS))} (pass benchmark=NAME in --model_args for a renamed task)")


def question_from_doc(benchmark: str, doc: dict[str, Any], visual: str, task: str, doc_id: int) -> Question:
    """The question of one lmms-eval document; ``visual`` is the video path the task resolved."""
    loader = LOADERS[benchmark]
    video = Path(visual)
    # The loaders resolve videos/subtitles against the annotation file's folder; lmms-eval's videos sit
    # one level below it (videos/X.mp4, Charades_v1_480/X.mp4, <dataset>/<scene>.mp4).
    ctx = LoadContext(data_dir=video.parent.parent, split="lmms", report=LoadReport(benchmark=benchmark, split="lmms"),
                      require_videos=False)
    ctx.cache["base"] = video.parent.parent
    rec = dict(doc)
    if benchmark == "videommmu":  # its loader learns the track (config) and folder from the file it reads
        configs = LOADERS["videommmu"].CONFIGS
        rec.setdefault("__config__", next((c for c in configs if c.lower() in task.lower()), "all"))
        rec.setdefault("__base__", str(video.parent))
    try:
        q = loader.convert(ctx, f"{task}[{doc_id}]", rec)
    except (RowError, ValueError, TypeError, KeyError) as e:
        raise TaskDocError(f"{task} document {doc_id}: not a {benchmark} record: {e}") from e
    return q.model_copy(update={"video": str(video)})


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _seconds(x: float) -> str:
    """Plain decimal (no exponent: the scorers' regexes read ``\\d+(\\.\\d+)?``), to the microsecond."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def format_answer(q: Question, answer: str | None) -> str:
    """The text the task's scorer parses, from the team's final answer ('' when there is none)."""
    if not answer:
        return ""
    if q.task_type == TaskType.GROUNDING:
        from m1.data.answers import parse_interval

        span = parse_interval(answer)
        if span is None:
            return answer
        return f"The event happens in {_seconds(span[0])} - {_seconds(span[1])} seconds."
    if q.task_type == TaskType.NUMERIC:
        from m1.data.scoring import read_number

        text = answer.strip()
        value = read_number(text)
        # VSI-Bench's extract_number reads the first [-]digits[.digits]: "1e-05" would be 1 there
        if value is not None and not _PLAIN_NUMBER.fullmatch(text):
            return _seconds(value) if value >= 0 else "-" + _seconds(-value)
        return text
    return answer.strip()
