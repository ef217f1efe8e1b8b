"""Final answers: parsing an agent's answer (a value of the task's form, or a citation of an
evidence line that adopts its candidate) and the pattern a constrained answer is decoded under
(:mod:`m1.engines.constrain`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from m1.schema import OPTION_LETTERS, Question, TaskType
from m1.team.plan import NUMBER_RE, SPAN_RE, FormatErrorKind, PlanFormatError, nonblank_lines


class FinalAnswer(BaseModel):
    """A parsed answer; ``value`` is canonical: a letter, a number, ``"start end"``, or text."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    value: str


CITE_RE = re.compile(r"^\[?(a\d+\.\d+)\]?$")


def parse_answer(text: str, question: Question, cited: Mapping[str, str] | None = None) -> FinalAnswer:
    """Parse a final answer for ``question.task_type``; the value is canonicalised.

    An answer may also *cite* an evidence line instead of restating it: ``a2.1`` (or ``[a2.1]``)
    adopts the candidate that line shows. ``cited`` maps the labels shown in the prompt to their
    candidates; a citation of a line that is not there, or shows no candidate, is a format error.
    Multiple-choice letters never match the pattern; an open-ended answer that looks like a label
    but names no shown line is plain text."""
    lines = nonblank_lines(text)
    if len(lines) != 1:
        raise PlanFormatError(FormatErrorKind.BAD_ANSWER, f"an answer is one line, got {len(lines)}")
    raw = lines[0]
    tt = question.task_type

    def bad(msg: str) -> PlanFormatError:
        return PlanFormatError(FormatErrorKind.BAD_ANSWER, f"{raw[:60]!r}: {msg}", 1)

    cite = CITE_RE.match(raw)
    if cite and cited is not None and (tt != TaskType.OPEN_ENDED or cite.group(1) in cited):
        label = cite.group(1)
        if label not in cited:
            raise bad(f"cites {label}, which is not an evidence line with a candidate")
        try:
            return parse_answer(cited[label], question)
        except PlanFormatError as e:
            raise bad(f"cites {label}, whose candidate is not a valid answer: {e}") from None

    if tt == TaskType.MULTIPLE_CHOICE:
        valid = OPTION_LETTERS[: len(question.options)] if question.options else OPTION_LETTERS
        if len(raw) != 1 or raw not in valid:
            raise bad(f"expected one option letter of {valid}")
        return FinalAnswer(task_type=tt, value=raw)
    if tt == TaskType.NUMERIC:
        if len(raw) > 32 or not NUMBER_RE.match(raw):
            raise bad("expected a number")
        return FinalAnswer(task_type=tt, value=canonical_number(float(raw)))
    if tt == TaskType.GROUNDING:
        m = SPAN_RE.match(raw) if len(raw) <= 40 else None
        if not m:
            raise bad("expected 'start end' in seconds")
        start, end = float(m.group(1)), float(m.group(2))
        if start > end:
            raise bad("start is after end")
        return FinalAnswer(task_type=tt, value=f"{canonical_number(start)} {canonical_number(end)}")
    if len(raw) > 200:
        raise bad("open-ended answers are at most 200 characters")
    return FinalAnswer(task_type=tt, value=raw)


def answer_pattern(question: Question, cited: Mapping[str, str]) -> str | None:
    """The regular expression a constrained answer matches (:mod:`m1.engines.constrain`): the label
    of a shown line whose candidate is a valid answer to ``question`` (``cited``: label →
    candidate; a grounding question's line may show another tool's object list), or a value of the
    task's form that :func:`parse_answer` accepts; ``None`` (free text) for open-ended questions."""
    tt = question.task_type
    if tt == TaskType.OPEN_ENDED:
        return None
    if tt == TaskType.MULTIPLE_CHOICE:
        value = f"[{OPTION_LETTERS[: len(question.options)] if question.options else OPTION_LETTERS}]"
    else:
        value = (NUMBER_RE if tt == TaskType.NUMERIC else SPAN_RE).pattern.removeprefix("^").removesuffix("$")
    return "|".join(f"(?:{f})" for f in [value, *(re.escape(c) for c in sorted(cited) if _valid(cited[c], question))])


def _valid(candidate: str, question: Question) -> bool:
    try:
        parse_answer(candidate, question)
    except PlanFormatError:
        return False
    return True


def canonical_number(x: float) -> str:
    """A number as answers write it: an integer without a point, else 6 significant digits."""
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else f"{x:.6g}"
