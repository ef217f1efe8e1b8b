"""The plan language: what an agent writes (plans, revisions, answers), how it is parsed, and the
prompts that ask for it.

Grammar (one item per line, ``\\n`` separated; surrounding blank space is ignored)::

    plan      := step+                      e.g.  1. global_sampling {"n":8}
    step      := INT ". " TOOL " " JSON         2. fine_browser {"start":"$1.start","end":"$1.end"}
    revision  := "KEEP" | "DONE" | step+    KEEP = run the remaining plan as is; DONE = stop, answer now;
                                            steps = the new remaining plan, numbered from the next step
    answer    := LETTER | NUMBER | NUMBER " " NUMBER | TEXT   (by task type: MC / numeric / grounding / open)
               | CITATION                   e.g.  a2.1 — adopt the candidate of evidence line [a2.1]

Steps are numbered consecutively from ``first_step`` (1 for a fresh plan, the next step number
for a revision), so step numbers are global within one agent's trajectory. ``JSON`` is a JSON
object checked against the tool's ``args_schema`` (a small JSON-schema subset: type, required,
properties, enum, minimum, maximum, items). Any argument value may instead be a *reference*
``"$K.field"`` to the result of the agent's own earlier step K; :func:`resolve_refs` replaces it
just before execution (see there for the lookup rule).

Parsing is strict: anything else is a :class:`PlanFormatError` (with a :class:`FormatErrorKind`
that drives the format reward). The parsers never raise any other exception, whatever the
input (fuzzed in the tests). Tolerant answer extraction for real benchmarks ("The answer is (B)")
is not here: it belongs to the benchmark loaders, which must count what they cannot parse.

Prompts are rendered for three moments — the initial plan, a revision, the final answer — and
always fit ``max_context - max_new_tokens`` tokens of the real tokenizer; the truncation rule is
documented on :func:`fit_evidence`, which also lists the evidence a prompt shows, as structure.
The tool catalogue is always a parameter (``list[ToolSpec]``), never hard-coded here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from m1.schema import OPTION_LETTERS, Question, ToolResult, ToolSpec

MAX_LINE_CHARS = 1000  # a plan line longer than this is a format error, not a JSON-parser stress test
DEFAULT_MAX_STEPS = 10

_STEP_RE = re.compile(r"^(\d{1,3})\. ([a-z][a-z0-9_]*) (\{.*\})$")
_REF_RE = re.compile(r"^\$(\d{1,3})\.([a-z][a-z0-9_]*)$")
NUMBER_RE = re.compile(r"^-?\d+(?:\.\d+)?$")
SPAN_RE = re.compile(r"^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$")


# ----------------------------------------------------------------------------------- types


class FormatErrorKind(StrEnum):
    EMPTY = "empty"  # nothing but whitespace
    BAD_LINE = "bad_line"  # a line that is not `N. tool {json}` (or KEEP/DONE)
    BAD_NUMBERING = "bad_numbering"  # steps not consecutive from first_step
    BAD_JSON = "bad_json"  # the args are not a JSON object
    UNKNOWN_TOOL = "unknown_tool"
    BAD_ARGS = "bad_args"  # args violate the tool's schema
    DANGLING_REF = "dangling_ref"  # "$K.f" with K not an earlier step (or unresolvable at run time)
    TOO_MANY_STEPS = "too_many_steps"
    BAD_ANSWER = "bad_answer"


class PlanFormatError(ValueError):
    """A model output that does not follow the plan language. ``kind`` classifies it, ``line`` is
    the 1-based line number (0 when not line-specific)."""

    def __init__(self, kind: FormatErrorKind, detail: str, line: int = 0):
        self.kind = FormatErrorKind(kind)
        self.detail = detail
        self.line = line
        where = f" (line {line})" if line else ""
        super().__init__(f"{self.kind.value}{where}: {detail}")

    def __reduce__(self):  # picklable across actor boundaries despite the custom __init__
        return (type(self), (self.kind, self.detail, self.line))


class PromptTooLongError(ValueError):
    """The parts of a prompt that cannot be truncated do not fit the context window."""


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1, description="Global step number within the agent's trajectory.")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)

    def render(self) -> str:
        return f"{self.index}. {self.tool} {json.dumps(self.args, separators=(',', ':'), ensure_ascii=False)}"


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[PlanStep] = Field(default_factory=list)

    def render(self) -> str:
        return "\n".join(s.render() for s in self.steps)


class Revision(BaseModel):
    """``keep``: run the remaining plan; ``replace``: ``steps`` is the new remaining plan (empty =
    stop and answer now, written ``DONE``)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["keep", "replace"]
    steps: list[PlanStep] = Field(default_factory=list)

    def render(self) -> str:
        if self.action == "keep":
            return "KEEP"
        return "\n".join(s.render() for s in self.steps) if self.steps else "DONE"


class Evidence(BaseModel):
    """One line of evidence shown to an agent: a tool result from its own trajectory or from the
    shared memory. ``agent`` is a short label (``a2``); ``step`` the producer's step number.

    A result with a candidate answer carries it in ``candidate`` / ``confidence`` and the line
    shows it first — ``candidate=X conf=0.90; text`` — so that clipping a line keeps it."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    step: int = Field(ge=0)
    tool: str
    text: str = Field(description="The line's body (after the candidate mark, when there is one).")
    candidate: str | None = Field(None, description="The result's candidate answer, shown before text.")
    confidence: float | None = Field(None, ge=0.0, le=1.0, description="Its confidence (shown to 2 places).")
    clipped: bool = Field(False, description="The prompt shows this line cut short (to entry_tokens).")

    @property
    def label(self) -> str:  # what an answer cites to adopt the line's candidate: a2.1
        return f"{self.agent}.{self.step}"

    @property
    def shown_confidence(self) -> float:  # as the line shows it: two places; 0 when it shows none
        return float(f"{self.confidence:.2f}") if self.confidence is not None else 0.0

    def _mark(self) -> str:
        conf = f" conf={self.confidence:.2f}" if self.confidence is not None else ""
        return f"candidate={self.candidate}{conf};"

    def render(self) -> str:
        body = f"{self._mark()} {self.text}" if self.candidate is not None else self.text
        return f"[{self.label}] {self.tool}: {' '.join(body.split())}"

    def as_shown(self, line: str) -> Evidence:
        """This evidence as ``line`` (its rendering, perhaps clipped) shows it: a line cut before its
        candidate mark ends shows no candidate."""
        if line == " ".join(self.render().split()):
            return self
        head = " ".join(f"[{self.label}] {self.tool}: {self._mark()}".split())
        keeps_mark = self.candidate is not None and line.startswith(head)
        return self.model_copy(update={"clipped": True, "candidate": self.candidate if keeps_mark else None,
                                       "confidence": self.confidence if keeps_mark else None})


class RenderedPrompt(NamedTuple):
    """A prompt and the evidence lines it shows, oldest first (those the budget kept: :func:`fit_evidence`)."""

    text: str
    evidence: list[Evidence]


# ------------------------------------------------------------------------------- parsing


def _json_object(raw: str, line: int) -> dict[str, Any]:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        value = json.loads(raw, parse_constant=no_constants)
    except (ValueError, RecursionError) as e:
        raise PlanFormatError(FormatErrorKind.BAD_JSON, f"args are not valid JSON: {e}", line) from None
    if not isinstance(value, dict):
        raise PlanFormatError(FormatErrorKind.BAD_JSON, "args must be a JSON object", line)
    return value


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "array":
        return isinstance(value, list)
    if typ == "object":
        return isinstance(value, dict)
    if typ == "null":
        return value is None
    return True  # an unknown type keyword constrains nothing


def _check_value(name: str, value: Any, schema: dict[str, Any], line: int) -> None:
    def bad(msg: str) -> PlanFormatError:
        return PlanFormatError(FormatErrorKind.BAD_ARGS, f"{name}={value!r}: {msg}", line)

    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list) and alternatives:  # pydantic writes Optional[X] as anyOf [X, null]
        errors = []
        for sub in alternatives:
            try:
                _check_value(name, value, sub if isinstance(sub, dict) else {}, line)
                return
            except PlanFormatError as e:
                errors.append(e.detail.split(": ", 1)[-1])
        raise bad(" or ".join(errors))
    typ = schema.get("type")
    types = typ if isinstance(typ, list) else [typ] if typ else []
    if types and not any(_type_ok(value, t) for t in types):
        raise bad(f"expected {'/'.join(types)}")
    if "enum" in schema and value not in schema["enum"]:
        raise bad(f"must be one of {schema['enum']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise bad(f"must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise bad(f"must be <= {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise bad(f"must be > {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            raise bad(f"must be < {schema['exclusiveMaximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise bad(f"needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise bad(f"takes at most {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _check_value(f"{name}[{i}]", item, items, line)
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        raise bad(f"longer than {schema['maxLength']} characters")


def validate_args(args: dict[str, Any], spec: ToolSpec, step: int, line: int = 0) -> None:
    """Check ``args`` of step ``step`` against ``spec.args_schema``; references must point to an
    earlier step and are otherwise not type-checked (the value is only known at run time)."""
    schema = spec.args_schema or {}
    props: dict[str, Any] = schema.get("properties", {}) or {}
    for key in schema.get("required", []) or []:
        if key not in args:
            raise PlanFormatError(FormatErrorKind.BAD_ARGS, f"{spec.name}: missing required argument {key!r}", line)
    for key, value in args.items():
        if props and key not in props:
            raise PlanFormatError(
                FormatErrorKind.BAD_ARGS, f"{spec.name}: unknown argument {key!r} (takes {sorted(props)})", line
            )
        m = _REF_RE.match(value) if isinstance(value, str) else None
        if m:  # anything else, "$5 bill" included, is an ordinary value and must fit the schema
            if not 1 <= int(m.group(1)) < step:
                raise PlanFormatError(
                    FormatErrorKind.DANGLING_REF, f"{key}={value!r}: step {m.group(1)} is not before step {step}", line
                )
            continue
        _check_value(f"{spec.name}.{key}", value, props.get(key, {}), line)


def _parse_steps(
    lines: list[str], catalogue: Sequence[ToolSpec], first_step: int, max_steps: int, line_offset: int = 0
) -> list[PlanStep]:
    tools = {t.name: t for t in catalogue}
    if len(lines) > max_steps:
        raise PlanFormatError(FormatErrorKind.TOO_MANY_STEPS, f"{len(lines)} steps, at most {max_steps} allowed")
    steps: list[PlanStep] = []
    for i, text in enumerate(lines):
        line = i + 1 + line_offset
        if len(text) > MAX_LINE_CHARS:
            raise PlanFormatError(FormatErrorKind.BAD_LINE, f"line longer than {MAX_LINE_CHARS} characters", line)
        m = _STEP_RE.match(text)
        if not m:
            raise PlanFormatError(FormatErrorKind.BAD_LINE, f"expected 'N. tool {{json}}', got {text[:80]!r}", line)
        index, tool, raw = int(m.group(1)), m.group(2), m.group(3)
        if index != first_step + i:
            raise PlanFormatError(FormatErrorKind.BAD_NUMBERING, f"step {index}, expected {first_step + i}", line)
        if tool not in tools:
            raise PlanFormatError(FormatErrorKind.UNKNOWN_TOOL, f"{tool!r} is not one of {sorted(tools)}", line)
        args = _json_object(raw, line)
        validate_args(args, tools[tool], index, line)
        steps.append(PlanStep(index=index, tool=tool, args=args))
    return steps


def nonblank_lines(text: Any) -> list[str]:
    if not isinstance(text, str):
        raise PlanFormatError(FormatErrorKind.EMPTY, f"expected text, got {type(text).__name__}")
    lines = [ln.strip() for ln in text.strip().split("\n")]
    if not lines or lines == [""]:
        raise PlanFormatError(FormatErrorKind.EMPTY, "no output")
    for i, ln in enumerate(lines):
        if not ln:
            raise PlanFormatError(FormatErrorKind.BAD_LINE, "blank line inside the output", i + 1)
    return lines


def parse_plan(
    text: str, catalogue: Sequence[ToolSpec], first_step: int = 1, max_steps: int = DEFAULT_MAX_STEPS
) -> Plan:
    """Parse an initial plan; raise :class:`PlanFormatError` (and nothing else) when malformed."""
    return Plan(steps=_parse_steps(nonblank_lines(text), catalogue, first_step, max_steps))


def parse_revision(
    text: str, catalogue: Sequence[ToolSpec], next_step: int, max_steps: int = DEFAULT_MAX_STEPS
) -> Revision:
    """Parse ``KEEP``, ``DONE`` or a new remaining plan numbered from ``next_step``."""
    lines = nonblank_lines(text)
    if lines == ["KEEP"]:
        return Revision(action="keep")
    if lines == ["DONE"]:
        return Revision(action="replace", steps=[])
    return Revision(action="replace", steps=_parse_steps(lines, catalogue, next_step, max_steps))


def try_parse_plan(text: str, catalogue: Sequence[ToolSpec], first_step: int = 1) -> Plan | PlanFormatError:
    """:func:`parse_plan` returning the error instead of raising (for reward computation)."""
    try:
        return parse_plan(text, catalogue, first_step)
    except PlanFormatError as e:
        return e


# ---------------------------------------------------------------------------- references


class UnresolvedRefError(PlanFormatError):
    """A ``$K.field`` reference whose step K has no usable result or no such field at run time."""

    def __init__(self, detail: str, line: int = 0, kind: FormatErrorKind = FormatErrorKind.DANGLING_REF):
        super().__init__(kind, detail, line)

    def __reduce__(self):
        return (type(self), (self.detail, self.line))


def resolve_refs(args: dict[str, Any], previous: dict[int, ToolResult]) -> dict[str, Any]:
    """Return ``args`` with every ``"$K.field"`` value replaced by step K's result field.

    Lookup order for ``field`` in ``previous[K]``: its ``payload[field]``; then the result's own
    ``candidate`` / ``confidence``; then, for ``start`` / ``end``, the two numbers of a
    ``"start end"`` candidate (what grounding-style tools return). A missing step, a failed
    step, or a missing field raises :class:`UnresolvedRefError`. Non-reference values pass through.
    """
    out: dict[str, Any] = {}
    for key, value in args.items():
        m = _REF_RE.match(value) if isinstance(value, str) else None
        if not m:
            out[key] = value
            continue
        k, field = int(m.group(1)), m.group(2)
        res = previous.get(k)
        if res is None:
            raise UnresolvedRefError(f"{key}={value!r}: step {k} has no result")
        if res.error is not None:
            raise UnresolvedRefError(f"{key}={value!r}: step {k} failed ({res.error})")
        if field in res.payload:
            out[key] = res.payload[field]
        elif field in ("candidate", "confidence") and getattr(res, field) is not None:
            out[key] = getattr(res, field)
        elif field in ("start", "end") and res.candidate and SPAN_RE.match(res.candidate.strip()):
            s, e = res.candidate.split()
            out[key] = float(s) if field == "start" else float(e)
        else:
            raise UnresolvedRefError(f"{key}={value!r}: step {k} ({res.tool}) has no field {field!r}")
    return out


# ------------------------------------------------------------------------------- prompts

TokenCounter = Callable[[str], int]


def byte_counter(text: str) -> int:
    """UTF-8 byte count: an upper bound on the token count of any byte-level BPE tokenizer."""
    return len(text.encode("utf-8"))


def clip(text: str, max_tokens: int, count: TokenCounter) -> str:
    """The longest prefix of ``text`` (whitespace-normalised) within ``max_tokens``, with ``…``
    appended when cut."""
    text = " ".join(text.split())
    if count(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)  # invariant: prefix of length lo (+ "…") fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid] + "…") <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


def schema_types(sub: Any) -> list[str]:
    """The JSON types an argument schema admits, ``null`` left out (``anyOf`` flattened)."""
    if not isinstance(sub, dict):
        return []
    alternatives = sub.get("anyOf") or sub.get("oneOf")
    if isinstance(alternatives, list):
        return [t for alt in alternatives for t in schema_types(alt) if t != "null"]
    typ = sub.get("type")
    types = typ if isinstance(typ, list) else [typ] if isinstance(typ, str) else []
    return [t for t in types if t != "null"]


def render_tool_line(spec: ToolSpec) -> str:
    """``name(arg:type, opt?:type) description`` — one compact line per tool."""
    schema = spec.args_schema or {}
    required = set(schema.get("required", []) or [])
    short = {"integer": "int", "number": "num", "string": "str", "boolean": "bool", "array": "list"}
    parts = []
    for name, sub in (schema.get("properties", {}) or {}).items():
        typ = "|".join(short.get(t, t) for t in schema_types(sub)) or "any"
        parts.append(f"{name}{'' if name in required else '?'}:{typ}")
    return f"{spec.name}({', '.join(parts)}) {' '.join(spec.description.split())}"


def _question_block(q: Question, count: TokenCounter, clip_tokens: int) -> list[str]:
    lines = [f"Q: {clip(q.question, clip_tokens, count)}"]
    lines += [f"{OPTION_LETTERS[i]}. {clip(o, clip_tokens // 2, count)}" for i, o in enumerate(q.options)]
    lines.append(f"Type: {q.task_type.value}")
    return lines


def fit_evidence(
    head: str, tail: str, entries: Sequence[Evidence], budget: int, count: TokenCounter, entry_tokens: int
) -> RenderedPrompt:
    """Assemble ``head`` + evidence lines + ``tail`` within ``budget`` tokens. The rule:

    1. every entry is rendered on one line and clipped to ``entry_tokens`` tokens (``…`` marks a cut);
    2. entries are taken newest first (the end of ``entries`` is newest) while the whole prompt
       fits; older ones are dropped and one line ``(N earlier omitted)`` says how many;
    3. the kept entries are shown oldest first.

    ``head`` and ``tail`` are never truncated: if they alone do not fit, :class:`PromptTooLongError`.
    The final prompt is counted whole, so the limit holds exactly for ``count``. The result lists
    the kept entries as the prompt shows them (:meth:`Evidence.as_shown`).
    """

    def assemble(kept: list[str], dropped: int) -> str:
        body = ([f"({dropped} earlier omitted)"] if dropped else []) + kept
        return "\n".join([head, *body, tail]) if body else f"{head}\n{tail}"

    base = assemble([], 0)
    if count(base) > budget:
        raise PromptTooLongError(f"prompt without evidence needs {count(base)} tokens, budget is {budget}")
    rendered = [clip(e.render(), entry_tokens, count) for e in entries]
    kept: list[str] = []
    used = count(base) + count(f"({len(entries)} earlier omitted)") + 2
    for line in reversed(rendered):
        cost = count(line) + 1
        if used + cost > budget:
            break
        kept.insert(0, line)
        used += cost
    prompt = assemble(kept, len(rendered) - len(kept))
    while count(prompt) > budget and kept:  # token merges across lines can differ from the estimate
        kept.pop(0)
        prompt = assemble(kept, len(rendered) - len(kept))
    if count(prompt) > budget:
        raise PromptTooLongError(f"prompt needs {count(prompt)} tokens, budget is {budget}")
    first = len(rendered) - len(kept)
    shown = [e.as_shown(line) for e, line in zip(entries[first:], rendered[first:], strict=True)]
    return RenderedPrompt(text=prompt, evidence=shown)


class PromptLimits(BaseModel):
    """Token limits for one agent's prompts."""

    model_config = ConfigDict(extra="forbid")

    max_context: int = Field(1024, ge=64, description="The model's context window (prompt + completion).")
    max_new_tokens: int = Field(128, ge=1, description="Reserved for the completion.")
    entry_tokens: int = Field(48, ge=8, description="Each evidence line is clipped to this many tokens.")
    clip_tokens: int = Field(96, ge=8, description="The question text is clipped to this; each option to half.")

    @property
    def budget(self) -> int:
        return self.max_context - self.max_new_tokens


def render_plan_prompt(
    q: Question, catalogue: Sequence[ToolSpec], limits: PromptLimits, count: TokenCounter = byte_counter
) -> str:
    """The prompt for an initial plan: question, options, tool catalogue; the answer is a plan."""
    head = "\n".join(["#plan", *_question_block(q, count, limits.clip_tokens), "Tools:"])
    head += "\n" + "\n".join(render_tool_line(t) for t in catalogue)
    # The task kind again right before the plan: the tool list separates "Type:" from where the plan
    # is written, and a tiny model must choose its plan by it (SFT students otherwise wrote the
    # majority family's plan for every question).
    task = f"{q.family.value} {q.task_type.value}" if q.family else q.task_type.value
    return fit_evidence(head, f"Task: {task}\nPlan:\n", [], limits.budget, count, limits.entry_tokens).text


def compose_revision_prompt(q: Question, catalogue: Sequence[ToolSpec], plan: Plan, done: Sequence[Evidence],
                            memory: Sequence[Evidence], limits: PromptLimits,
                            count: TokenCounter = byte_counter) -> RenderedPrompt:
    """The prompt for a revision: the current plan, own results so far and the visible shared
    memory (own results outrank memory when the budget is short: they are placed newest)."""
    next_step = len(done) + 1
    head = "\n".join(
        ["#revise", *_question_block(q, count, limits.clip_tokens), "Tools:"]
        + [render_tool_line(t) for t in catalogue]
        + ["Plan:", plan.render() or "(none)", "Results:"]
    )
    return fit_evidence(head, f"Next: {next_step}\n", [*memory, *done], limits.budget, count, limits.entry_tokens)


def compose_answer_prompt(q: Question, evidence: Sequence[Evidence], limits: PromptLimits,
                          count: TokenCounter = byte_counter) -> RenderedPrompt:
    """The prompt for the final answer: question, options and evidence (newest kept first)."""
    head = "\n".join(["#answer", *_question_block(q, count, limits.clip_tokens), "Evidence:"])
    return fit_evidence(head, "Answer:\n", evidence, limits.budget, count, limits.entry_tokens)


def render_answer_prompt(q: Question, evidence: Sequence[Evidence], limits: PromptLimits,
                         count: TokenCounter = byte_counter) -> str:
    """The text of :func:`compose_answer_prompt`."""
    return compose_answer_prompt(q, evidence, limits, count).text
