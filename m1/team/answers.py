"""Final answers: parsing an agent's answer (a value of the task's form, or a citation of an
evidence line that adopts its candidate) and the pattern a constrained answer is decoded under
(:mod:`m1.engines.constrain`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from m1.data.metrics import OPEN_METRICS, answer_parts
from m1.data.scoring import open_metric
from m1.schema import OPTION_LETTERS, Question, TaskType
from m1.team.plan import NUMBER_RE, SPAN_RE, FormatErrorKind, PlanFormatError, nonblank_lines


class FinalAnswer(BaseModel):
    """A parsed answer; ``value`` is canonical: a letter, a number, ``"start end"``, or text."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    value: str


CITE_RE = re.compile(r"^\[?(a\d+\.\d+)\]?$")
LABEL_START_RE = re.compile(r"^\[?a\d")  # an evidence label's start; no item of a structured list begins so
PLAN_SYNTAX_RE = re.compile(r'[{}\[\]":]')  # a call's arguments or a citation's brackets; no item holds one

# A constrained answer writes at most this many digits before and after the point. Unbounded, a
# model steered by the constraint could write digits until ``cpp.answer_tokens`` ran out, leaving
# a cut-off answer that does not parse (seen as unparseable grounding answers in a trained team's
# predictions; reproduced in tests/unit/test_constrain.py). 5 integer digits hold every second of
# the longest accepted video (``video.max_duration``, 4 h = 14400 s) and every count and size the
# tools report; 2 decimals are what every tool candidate and generated answer writes
# (``f"{x:.2f}"``). A span then takes at most 17 characters and never more than 16 tokens
# (:func:`answer_budget`), the default ``cpp.answer_tokens``.
INT_DIGITS, FRAC_DIGITS = 5, 2
_NUMBER = rf"\d{{1,{INT_DIGITS}}}(?:\.\d{{1,{FRAC_DIGITS}}})?"
_VALUE = {TaskType.NUMERIC: f"-?{_NUMBER}", TaskType.GROUNDING: f"{_NUMBER} {_NUMBER}"}
# one more than the longest text that starts an admitted value but is none: "-99999." and
# "99999.99 99999."; an option letter is complete at once
_VALUE_BUDGET = {TaskType.MULTIPLE_CHOICE: 1, TaskType.NUMERIC: INT_DIGITS + 3,
                 TaskType.GROUNDING: 2 * INT_DIGITS + FRAC_DIGITS + 4}


def parse_answer(text: str, question: Question, cited: Mapping[str, str] | None = None) -> FinalAnswer:
    """Parse a final answer for ``question.task_type``; the value is canonicalised.

    An answer may also *cite* an evidence line instead of restating it: ``a2.1`` (or ``[a2.1]``)
    adopts the candidate that line shows. ``cited`` maps the labels shown in the prompt to their
    candidates; a citation of a line that is not there, or shows no candidate, is a format error.
    Multiple-choice letters never match the pattern; an open-ended answer that looks like a label
    but names no shown line is plain text, except for a structured list (an open-ended question
    with an item metric, M1-Synth's family): its items name objects, motions and caption words
    (read right or misread, always with letters), so an answer with the marks of a label or a plan
    fragment — it begins with a label (``a1``, ``a2.1.2``), an item has no letter (``2``, ``1.1``) or
    it holds plan syntax (``fine_browser {"step":1``) — is a format error: it neither scores nor
    votes as a list (:func:`vote_items`). Students without the shared memory wrote all three."""
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
    if open_metric(question) is not None and (fragment := _fragment(raw)):
        raise bad(f"a list of items, not {fragment}: cite a shown line or write the items")
    return FinalAnswer(task_type=tt, value=raw)


def _fragment(raw: str) -> str | None:
    """What marks ``raw`` as a fragment of a label or a plan rather than a structured list (None: nothing)."""
    if LABEL_START_RE.match(raw):
        return "a line's label"
    if PLAN_SYNTAX_RE.search(raw):
        return "a fragment of a plan"
    if any(not any(c.isalpha() for c in item) for _, item in answer_parts(raw)):
        return "an item without a letter"
    return None


def answer_pattern(question: Question, cited: Mapping[str, str]) -> str | None:
    """The regular expression a constrained answer matches (:mod:`m1.engines.constrain`): the label
    of a shown line whose candidate is a valid answer to ``question`` (``cited``: label →
    candidate; a grounding question's line may show another tool's object list), or a value of the
    task's form that :func:`parse_answer` accepts; ``None`` (free text) for open-ended questions.

    A written number has at most :data:`INT_DIGITS` digits before the point and
    :data:`FRAC_DIGITS` after it, fewer than :func:`parse_answer` takes from free text; a span whose
    start is after its end is admitted (a regular expression does not compare numbers) and then
    refused by :func:`parse_answer`."""
    tt = question.task_type
    if tt == TaskType.OPEN_ENDED:
        return None
    if tt == TaskType.MULTIPLE_CHOICE:
        value = f"[{OPTION_LETTERS[: len(question.options)] if question.options else OPTION_LETTERS}]"
    else:
        value = _VALUE[tt]
    return "|".join(f"(?:{f})" for f in [value, *(re.escape(c) for c in _citable(question, cited))])


def answer_budget(question: Question, cited: Mapping[str, str]) -> int | None:
    """The fewest ``max_new_tokens`` at which every answer decoded under
    :func:`answer_pattern` ends as a complete match, whatever the tokenizer: every token writes at
    least one character, so once the budget is spent the text is longer than any text that starts
    an admitted answer without being one. ``None`` for open-ended questions (no pattern)."""
    if question.task_type == TaskType.OPEN_ENDED:
        return None
    return max([_VALUE_BUDGET[question.task_type], *(len(c) for c in _citable(question, cited))])


def _citable(question: Question, cited: Mapping[str, str]) -> list[str]:
    return [c for c in sorted(cited) if _valid(cited[c], question)]


def _valid(candidate: str, question: Question) -> bool:
    try:
        parse_answer(candidate, question)
    except PlanFormatError:
        return False
    return True


def canonical_number(x: float) -> str:
    """A number as answers write it: an integer without a point, else 6 significant digits."""
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else f"{x:.6g}"


def vote_items(answers: Sequence[str], kind: str) -> str:
    """An open-ended list answer voted item by item over several agents' answers, ``answers`` in
    priority order (the summariser's first; ties go to the earliest). ``kind`` is the question's
    item metric (:mod:`m1.data.metrics`):

    - ``sequence``: the most common list length (a tie: the earliest answer's length among those
      tied), then at each position the item most of the answers of that length write there;
    - ``set``: every item more than half of the answers list (exactly half: kept if the first
      answer lists it), in order of first appearance.

    Items compare as the metric reads them (:func:`m1.data.metrics.answer_parts`) and are written as
    the first answer to hold them wrote them. Answers without an item do not vote; if none has one,
    or no item of a set is listed by enough of them, the first answer is returned. Independent
    misreadings of one list — an OCR error in the second caption of one reading, in the third of
    another — are outvoted where copying any one answer keeps its errors
    (``cpp.open_ended_aggregation``)."""
    if kind not in OPEN_METRICS:
        raise ValueError(f"unknown open-ended metric {kind!r}; expected one of {OPEN_METRICS}")
    if not answers:
        raise ValueError("vote_items needs at least one answer")
    lists = [parts for parts in (answer_parts(a) for a in answers) if parts]
    if not lists:
        return answers[0]
    if kind == "set":
        counts = Counter(key for parts in lists for key in {key for _, key in parts})
        first = {key for _, key in lists[0]}
        kept: dict[str, str] = {}
        for parts in lists:
            for written, key in parts:
                if key not in kept and (2 * counts[key] > len(lists) or (2 * counts[key] == len(lists)
                                                                         and key in first)):
                    kept[key] = written
        return ", ".join(kept.values()) if kept else answers[0]
    lengths = Counter(len(parts) for parts in lists)
    top = max(lengths.values())
    size = next(len(parts) for parts in lists if lengths[len(parts)] == top)
    same = [parts for parts in lists if len(parts) == size]
    out = []
    for j in range(size):
        votes = Counter(parts[j][1] for parts in same)
        best = max(votes.values())
        out.append(next(parts[j][0] for parts in same if votes[parts[j][1]] == best))
    return ", ".join(out)
