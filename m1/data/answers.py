"""Answer parsing: turn a model's free text into an option letter, a number or a time interval.

Every parser is total: it never raises, and returns ``None`` when it cannot find an answer (the
scorer counts those as *unparseable* and scores them 0). Tolerance is at least that of the
field's common parsers (lmms-eval's MMMU/Video-MME/MLVU letter extraction, the Charades-STA
``extract_time`` of TimeChat/lmms-eval, VSI-Bench's number extraction), with one deliberate
difference: where those parsers fall back to a *random* option or to the first capital letter
anywhere in a long text, these return ``None`` and let the count of unparseable answers show.

Decisions (documented because they change scores):

- ``<answer>…</answer>``: only the *last* block is read (Video-Holmes convention); an answer
  cue (“the answer is”, “answer:”, “best option:”) narrows the text to what follows the last cue.
- Letters: ``A``, ``(A)``, ``A.``, ``A:``, ``A)``, ``[A]``, ``Option A``; a bare capital ``A``
  or ``I`` followed by a lower-case word is read as an English word, not a letter. Several
  different letters with no cue → ``None`` (ambiguous), except ``(X)`` forms where the last wins
  (MMMU's rule). With no letter, an option whose text appears in the answer is chosen when
  exactly one option (not contained in another matching option) matches.
- Numbers: digits with optional sign, thousands commas and decimals, units ignored
  (“3 meters”, “2.5m”); the first number after the last cue, else the first in the text.
  English number words zero–ninety-nine (“three”, “twenty-one”) are read only when the text
  has no digits. Non-finite values → ``None``.
  ``parse_numbers`` returns every number after the last cue or ``=`` (MMMU's open-answer rule:
  any candidate may match).
- Intervals: ``s - e``, ``s to e``, ``from s to e``, ``between s and e``, ``[s, e]``,
  ``m:ss-m:ss``/``h:mm:ss``, ``start … s … end … e``; otherwise the first two numbers.
  Reversed pairs are swapped (as lmms-eval does). Fewer than two times → ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from m1.schema import OPTION_LETTERS

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_CUE = re.compile(
    r"(?:(?:final|correct|best|right)\s+)?(?:answer|option|choice)\s*(?:is|would be|should be|:|=)\s*(?:option\s+)?"
    r"|best option:\s*",
    re.IGNORECASE,
)


def answer_text(text: str) -> str:
    """The part of ``text`` that carries the answer: the last ``<answer>`` block, if any."""
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        return blocks[-1].strip()
    # An unclosed final block ("<answer>B" at the end of a truncated generation) still answers.
    opened = text.lower().rfind("<answer>")
    if opened >= 0:
        return text[opened + len("<answer>") :].strip()
    return text


def _after_last_cue(text: str) -> str | None:
    last = None
    for m in _CUE.finditer(text):
        last = m
    return text[last.end() :] if last else None


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _reads_as_word(rest: str) -> bool:
    """After a bare "A"/"I": a following lower-case word makes it English ("A man"), except "or"/"and"."""
    return bool(re.match(r"^\s*[a-z]", rest)) and not re.match(r"^\s*(?:or|and)\b", rest)


def _letter_at_start(text: str, letters: str) -> str | None:
    m = re.match(rf"^\s*[\(\[\*\"']*\s*(?:option\s+)?([{letters}])\s*(?:$|[\)\]\.\:,\*\"'\s])", text, re.IGNORECASE)
    if not m:
        return None
    letter = m.group(1)
    rest = text[m.end() :]
    # "A man walks in" / "I think": an English word, unless the letter was bracketed/punctuated.
    punctuated = bool(re.match(r"^\s*[\(\[\*\"']", text)) or bool(re.match(r"^\s*\w\s*[\)\]\.\:,]", text))
    if not letter.isupper():
        # lower-case letters count only when they are the whole answer or clearly marked ("b)")
        if not (punctuated or not rest.strip()):
            return None
        letter = letter.upper()
    elif letter in "AI" and not punctuated and _reads_as_word(rest):
        return None
    if not punctuated and re.match(r"^\s*(?:or|and)\b", rest):
        return None  # "A or B": a list of letters, left to the ambiguity check
    return letter if letter in letters else None


def parse_choice(text: str | None, options: Sequence[str] | None = None, n_options: int | None = None) -> str | None:
    """The option letter a free-text answer picks, or None.

    ``n_options`` (default: ``len(options)``, else 10) bounds the letters accepted."""
    if not isinstance(text, str) or not text.strip():
        return None
    n = n_options if n_options is not None else (len(options) if options else len(OPTION_LETTERS))
    letters = OPTION_LETTERS[: max(1, min(n, len(OPTION_LETTERS)))]
    body = answer_text(text).strip()
    cued = _after_last_cue(body)
    for candidate in ([cued] if cued is not None else []) + [body]:
        letter = _letter_at_start(candidate, letters)
        if letter:
            return letter
    scope = cued if cued is not None else body
    bracketed = re.findall(rf"[\(\[]([{letters}])[\)\]]", scope)
    if bracketed:
        return bracketed[-1]
    standalone = {
        m.group(1)
        for m in re.finditer(rf"(?<![\w'])([{letters}])(?![\w'])", scope)
        if not (m.group(1) in "AI" and _reads_as_word(scope[m.end() :]))
    }
    if len(standalone) == 1:
        return standalone.pop()
    if len(standalone) > 1:
        return None
    return _match_option_text(scope, options) if options else None


def _match_option_text(text: str, options: Sequence[str]) -> str | None:
    said = f" {_normalise(text)} "
    hits = [i for i, o in enumerate(options) if _normalise(o) and f" {_normalise(o)} " in said]
    # "red car" matching also makes "red" match; keep only maximal matches.
    maximal = [i for i in hits if not any(j != i and _normalise(options[i]) in _normalise(options[j]) for j in hits)]
    if len(maximal) == 1 and maximal[0] < len(OPTION_LETTERS):
        return OPTION_LETTERS[maximal[0]]
    return None


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])[-+]?\.\d+")
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_WORD_NUMBER = re.compile(
    rf"\b(?:({'|'.join(_TENS)})(?:[\s-]+({'|'.join(k for k in _UNITS if _UNITS[k] < 10 and k != 'zero')}))?"
    rf"|({'|'.join(_UNITS)}))\b",
    re.IGNORECASE,
)


def _first_number(text: str) -> float | None:
    m = _NUMBER.search(text)
    if m:
        value = float(m.group(0).replace(",", ""))
        return value if math.isfinite(value) else None
    if re.search(r"\d", text):
        return None
    w = _WORD_NUMBER.search(text)
    if not w:
        return None
    if w.group(1):
        return float(_TENS[w.group(1).lower()] + (_UNITS[w.group(2).lower()] if w.group(2) else 0))
    return float(_UNITS[w.group(3).lower()])


def parse_number(text: str | None) -> float | None:
    """The number a free-text answer gives (units ignored), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    body = answer_text(text)
    cued = _after_last_cue(body)
    if cued is not None:
        value = _first_number(cued)
        if value is not None:
            return value
    return _first_number(body)


def parse_numbers(text: str | None) -> list[float]:
    """Every number in the answer part of ``text`` (after the last cue or ``=``, if any), in order.

    For open numeric answers scored MMMU-style: the answer is right when any candidate matches."""
    if not isinstance(text, str):
        return []
    body = answer_text(text)
    cued = _after_last_cue(body)
    if cued is None and "=" in body:
        cued = body.rsplit("=", 1)[1]
    values = [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(cued if cued is not None else body)]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        single = parse_number(text)
        values = [single] if single is not None else []
    return values


_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_PAIR = re.compile(
    rf"(?:from|between|\[|\()?\s*({_TIME})\s*(?:s|sec|secs|seconds?)?\s*"
    rf"(?:-|–|—|~|to|till|until|and|,)\s*({_TIME})",
    re.IGNORECASE,
)
_START_END = re.compile(
    rf"start\w*[^0-9]{{0,40}}?({_TIME}).*?end\w*[^0-9]{{0,40}}?({_TIME})", re.IGNORECASE | re.DOTALL
)


def _seconds(token: str) -> float | None:
    if ":" in token:
        parts = token.split(":")
        try:
            value = sum(float(p) * 60**i for i, p in enumerate(reversed(parts)))
        except ValueError:
            return None
    else:
        try:
            value = float(token)
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def parse_interval(text: str | None) -> tuple[float, float] | None:
    """The ``(start, end)`` seconds a free-text grounding answer gives, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    body = answer_text(text)
    # Drop the example lmms-eval's Charades prompt embeds, so an echoed prompt is not an answer.
    body = re.sub(r"a specific example is\s*:?\s*20\.8\s*-\s*30\.0 seconds", " ", body, flags=re.IGNORECASE)
    pair = _START_END.search(body) or _PAIR.search(body)
    if pair:
        times = [_seconds(pair.group(1)), _seconds(pair.group(2))]
    else:
        times = [_seconds(t) for t in re.findall(_TIME, body)[:2]]
    if len(times) != 2 or times[0] is None or times[1] is None:
        return None
    start, end = times
    return (start, end) if start <= end else (end, start)
