"""Teachers for policy SFT: who writes the plans, revisions and answers the students learn.

A :class:`Teacher` answers one CPP moment at a time — ``write(request)`` with the loop's
:class:`m1.team.cpp.GenRequest`: its phase (plan / revision / answer), question, the evidence
lines and remaining plan its prompt shows, as structure, and the prompt exactly as the CPP loop
renders it for a student. :class:`TeacherTeam` turns a teacher into a
:class:`m1.team.cpp.TeamBackend`, so annotation *runs the real CPP loop* and the (prompt,
completion) pairs come out of the episode trace as the students will see them at inference.

- :class:`OracleTeacher` (M1-Synth): built on the reference solver's tool plans, made diverse —
  several valid plans per family, varied orderings, occasional redundant steps, and a share of
  weak plans that the filter must reject. It revises by rule (``DONE`` once an own
  question-aware result is confident, else ``KEEP``) and answers with the candidate of the most
  confident result *visible in its prompt* (``GenRequest.evidence``: the lines the prompt kept,
  as they show): it reads the same evidence the student reads, never the ground truth.
- :class:`VerifyingTeacher` (M1-Synth with ``tools.noise``): the oracle made to cross-check — each
  agent reads the question at its own scan step, re-reads by revision while no two readings in view
  agree, and answers with the agreeing readings, not the most confident one (the reference
  solver's ``verify`` strategy, written as plans, revisions and answers a student can learn).
- :class:`LLMTeacher`: any OpenAI-compatible chat endpoint (GPT-4o, DeepSeek-R1, a vLLM server),
  with retries (429 / 5xx / connection errors, exponential back-off honouring ``Retry-After``),
  a client-side rate limit, a JSONL response cache and a JSONL usage/cost log.

Not here: the filter and dataset (:mod:`m1.train.annotation`), training (:mod:`m1.train.sft`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, Protocol

from m1.checkpoint import apply_prompt_template
from m1.config.sft import SFTConfig
from m1.engines.base import Completion
from m1.engines.endpoint import SYSTEM_PROMPTS, ChatClient, clean_reply
from m1.schema import Family, Question, TaskType
from m1.seeding import derive_seed
from m1.team.cpp import GenRequest, Phase, PromptBudgets, check_labels
from m1.team.plan import Evidence
from m1.tools.solver import parse_span, plan_for, same_answer

QUESTION_AWARE = ("fine_browser", "spatial", "grounding")


class TeacherError(RuntimeError):
    """A teacher could not produce a completion (endpoint refused, retries exhausted, bad reply)."""


class Teacher(Protocol):
    name: str

    def write(self, request: GenRequest) -> str:
        """The teacher's completion for one CPP generation (``request.prompt`` is what the student reads)."""
        ...


def best_evidence(evidence: Sequence[Evidence]) -> Evidence | None:
    """The most confident line that shows a candidate (confidence as shown; ties: the newest line,
    which is the agent's own result in answer prompts); ``None`` when no line shows one."""
    cands = [e for e in evidence if e.candidate is not None]
    if not cands:
        return None
    return cands[max(range(len(cands)), key=lambda i: (cands[i].shown_confidence, i))]


def best_candidate(evidence: Sequence[Evidence]) -> str | None:
    """The candidate of :func:`best_evidence`, as its line shows it; ``None`` when no line shows one."""
    best = best_evidence(evidence)
    return " ".join(best.candidate.split()) if best and best.candidate is not None else None


def best_citation(evidence: Sequence[Evidence]) -> str | None:
    """The label (``a2.1``) of :func:`best_evidence`; ``None`` when no line shows a candidate."""
    best = best_evidence(evidence)
    return best.label if best else None


def fallback_answer(question: Question) -> str:
    """What the oracle writes when its evidence holds no candidate (the filter drops it if wrong)."""
    if question.task_type == TaskType.MULTIPLE_CHOICE:
        return "A"
    if question.task_type == TaskType.NUMERIC:
        return "1"
    if question.task_type == TaskType.GROUNDING:
        return "0 1"
    return "unknown"


# ------------------------------------------------------------------------------- oracle

Step = tuple[str, dict[str, Any]]
# (weight, steps) per family. Valid plans always end with (or contain) the question-aware tool
# the reference solver uses; weak ones cannot produce a candidate, or look at the wrong part.
_VALID: dict[Family | None, list[tuple[int, list[Step]]]] = {
    Family.LONG_VIDEO: [
        (5, [("rough_browser", {}), ("fine_browser", {})]),
        (2, [("fine_browser", {})]),
        (1, [("rough_browser", {"fps": 1}), ("fine_browser", {})]),
        (1, [("global_sampling", {"n": 8}), ("fine_browser", {})]),
    ],
    Family.SPATIAL: [
        (5, [("spatial", {})]),
        (1, [("global_sampling", {"n": 8}), ("spatial", {})]),
        (1, [("image_retrieval", {"top_k": 3}), ("spatial", {})]),
    ],
    Family.GROUNDING: [
        (5, [("grounding", {})]),
        (1, [("video_retrieval", {"top_k": 3}), ("grounding", {})]),
        (1, [("grounding", {}), ("fine_browser", {"start": "$1.start", "end": "$1.end"})]),
    ],
    Family.OPEN_ENDED: [
        (5, [("fine_browser", {})]),
        (1, [("rough_browser", {}), ("fine_browser", {})]),
        (1, [("global_sampling", {"n": 8}), ("fine_browser", {})]),
    ],
    None: [(1, [("fine_browser", {})])],
}
_VALID[Family.REASONING] = _VALID[Family.LONG_VIDEO]
_WEAK: list[list[Step]] = [
    [("rough_browser", {})],
    [("global_sampling", {"n": 8})],
    [("video_retrieval", {"top_k": 3})],
]
_REDUNDANT: list[Step] = [("global_sampling", {"n": 4}), ("rough_browser", {})]


def _render_steps(steps: Sequence[Step], first: int = 1) -> str:
    return "\n".join(f"{i}. {tool} {json.dumps(args, separators=(',', ':'))}" for i, (tool, args) in
                     enumerate(steps, first))


class OracleTeacher:
    """The M1-Synth oracle: diverse plans per family, rule revisions, evidence-reading answers.

    Each (question, agent) gets its own plan draw from ``seed``, so the four teacher agents of an
    episode usually plan differently and the annotation is deterministic."""

    name = "oracle"

    def __init__(self, cfg: SFTConfig | None = None, seed: int = 0):
        self.cfg = cfg or SFTConfig()
        self.seed = seed

    def choose_plan(self, question: Question, agent: int) -> list[Step]:
        rng = random.Random(derive_seed(self.seed, "oracle-plan", question.qid, agent))
        if rng.random() < self.cfg.weak_plan_prob:
            return [(t, dict(a)) for t, a in rng.choice(_WEAK)]
        menu = _VALID.get(question.family, _VALID[None])
        steps = [(t, dict(a)) for t, a in rng.choices([p for _, p in menu], weights=[w for w, _ in menu])[0]]
        if rng.random() < self.cfg.redundant_step_prob:
            extra = rng.choice(_REDUNDANT)
            if all(t != extra[0] for t, _ in steps) and not any(isinstance(v, str) for _, a in steps
                                                                   for v in a.values()):
                # before: a wasted look that still runs in one pass; after: the DONE rule cuts it
                steps = [extra, *steps] if rng.random() < 0.5 else [*steps, extra]
        return steps

    def write(self, request: GenRequest) -> str:
        question = request.question
        if request.phase == Phase.PLAN:
            return _render_steps(self.choose_plan(question, request.agent))
        if request.phase == Phase.REVISION:
            return self._revise(request)
        if self.cfg.cite_answers and (question.task_type != TaskType.OPEN_ENDED or self.cfg.cite_open_answers):
            # answers are cited, not copied: a tiny student trained from scratch learns to point at a
            # line (a label of few values: its own results come last) long before it learns to copy
            # a value out of the evidence (measured: benchmarks/sft_results.md; for open-ended lists
            # benchmarks/collaboration.md, stops 38-39)
            return best_citation(request.evidence) or fallback_answer(question)
        return best_candidate(request.evidence) or fallback_answer(question)

    def _revise(self, request: GenRequest) -> str:
        if not request.plan:  # nothing left to cut short
            return "KEEP"
        own = [e for e in request.evidence
               if e.agent == request.label and e.candidate is not None and e.tool in QUESTION_AWARE]
        if any(e.shown_confidence >= self.cfg.done_confidence for e in own):
            return "DONE"
        return "KEEP"


# ------------------------------------------------------------------------- verifying oracle

MAX_READINGS = 3  # readings of the question-aware call one agent makes (as the solver's verify)


def readings(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The distinct question-aware readings among ``evidence`` that show a candidate. Two lines with
    the same tool, candidate and text are one reading seen twice (the episode ran an identical call
    once and served it again), so they are not two witnesses."""
    out: dict[tuple[str, str, str], Evidence] = {}
    for e in evidence:
        if e.tool in QUESTION_AWARE and e.candidate is not None:
            out.setdefault((e.tool, " ".join(e.candidate.split()), e.text), e)
    return list(out.values())


def agreeing(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The largest group of distinct readings that agree (:func:`m1.tools.solver.same_answer`: same
    option, numbers within 5 %, spans with IoU >= 0.5), if it has two or more; else ``[]``. Ties: the
    group whose best line is the more confident."""
    got = readings(evidence)
    groups = [[r for r in got if same_answer(r.candidate or "", x.candidate or "")] for x in got]
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        return []
    return max(groups, key=lambda g: (len(g), max(e.shown_confidence for e in g)))


def verified_evidence(evidence: Sequence[Evidence]) -> Evidence | None:
    """The line a cross-checking reader answers with: the most confident of the largest agreeing
    group of readings; with no agreement and three or more spans, the span whose midpoint is the
    median (the robust reading of independently shifted spans); else :func:`best_evidence`."""
    group = agreeing(evidence)
    if group:
        return best_evidence(group)
    got = readings(evidence)
    spans = [(e, span) for e in got if (span := parse_span(e.candidate or ""))]
    if len(got) >= 3 and len(spans) == len(got):
        ordered = sorted(spans, key=lambda x: (x[1][0] + x[1][1]) / 2)
        return ordered[len(ordered) // 2][0]
    return best_evidence(evidence)


class VerifyingTeacher(OracleTeacher):
    """The oracle for noisy tools (``tools.noise``): it cross-checks, so its students can learn to.

    - **Plans**: the oracle's, with every question-aware step reading at the agent's own scan step —
      agent k reads at the k-th of ``[tools.scan_step, *sft.read_steps]`` (cyclic) — so a team's
      first readings are independent and the shared memory holds several witnesses.
    - **Revisions**: with steps left, ``DONE`` once its own question-aware reading agrees with
      another distinct reading in view (own or a teammate's), else ``KEEP``. With its plan done and
      no agreement in view, a new step re-reads the family's question-aware call at the agent's next
      scan step (up to :data:`MAX_READINGS` own readings; a plan that never asked the question gets
      its first reading this way); with agreement, ``KEEP`` (stop).
    - **Answers**: the line of :func:`verified_evidence` — agreement among readings before confidence.

    It never reads the ground truth: every decision is on the evidence lines its prompt shows."""

    name = "verify"

    def reading_steps(self, agent: int) -> list[float | None]:
        """Agent ``agent``'s scan steps, first reading first (``None``: the tools' default step)."""
        cycle: list[float | None] = [None, *self.cfg.read_steps]
        k = agent % len(cycle)
        return cycle[k:] + cycle[:k]

    def choose_plan(self, question: Question, agent: int) -> list[Step]:
        first = self.reading_steps(agent)[0]
        steps = super().choose_plan(question, agent)
        if first is None:
            return steps
        return [(t, a | {"step": first}) if t in QUESTION_AWARE else (t, a) for t, a in steps]

    def write(self, request: GenRequest) -> str:
        if request.phase != Phase.ANSWER or request.question.task_type == TaskType.OPEN_ENDED:
            return super().write(request)
        best = verified_evidence(request.evidence)
        if best is None:
            return fallback_answer(request.question)
        if self.cfg.cite_answers:
            return best.label
        return " ".join((best.candidate or "").split()) or fallback_answer(request.question)

    def _revise(self, request: GenRequest) -> str:
        own = [e for e in request.evidence if e.agent == request.label and e.tool in QUESTION_AWARE]
        group = agreeing(request.evidence)
        own_agrees = any(e.agent == request.label for e in group)
        if request.plan:
            return "DONE" if own_agrees else "KEEP"
        if group:
            return "KEEP"
        main = plan_for(request.question)[-1]  # the family's question-aware call (the solver's)
        done = sum(e.tool == main.tool for e in own)
        steps = self.reading_steps(request.agent)
        if done >= min(MAX_READINGS, len(steps)):
            return "KEEP"
        step = steps[done]
        args = dict(main.args) | ({"step": step} if step is not None else {})
        return _render_steps([(main.tool, args)], first=request.next_step)


# ------------------------------------------------------------------------------ LLM teacher

class LLMTeacher(ChatClient):
    """A teacher behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (the client, its
    retries, rate limit, cache and usage log are :class:`m1.engines.endpoint.ChatClient`)."""

    name = "llm"
    error_cls = TeacherError

    def write(self, request: GenRequest) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPTS[request.phase]},
                    {"role": "user", "content": request.prompt}]
        return clean_reply(self.chat(messages))


# ----------------------------------------------------------------------------- team backend


class TeacherTeam(PromptBudgets):
    """A :class:`m1.team.cpp.TeamBackend` whose agents all write the teacher's texts.

    Prompts are tokenised with each *student's* tokenizer, prompt template and limits, so the episode's prompts are
    exactly what the students see; completions carry the teacher text's ids + EOS (log-probs 0).
    ``answers`` / ``blind_answers`` count answer requests, and those whose evidence showed no
    candidate (a sign that ``cpp.entry_tokens`` clips the candidates away)."""

    def __init__(self, teacher: Teacher, names: Sequence[str], tokenizer: Any, max_contexts: Sequence[int],
                 labels: Sequence[int] | None = None):
        if len(names) != len(max_contexts):
            raise ValueError("names and max_contexts must have the same length")
        self.teacher, self.names = teacher, list(names)
        # one tokenizer for the team, or one per agent (a mixed team: Gemma's beside the project's)
        self.tokenizers = PromptBudgets.per_agent(tokenizer, len(self.names))
        self.labels = check_labels(labels, len(self.names))
        super().__init__(self.tokenizers, max_contexts)
        self.answers = self.blind_answers = 0

    def generate(self, requests: Sequence[GenRequest]) -> list[Completion]:
        out = []
        for r in requests:
            if r.phase == Phase.ANSWER:
                self.answers += 1
                self.blind_answers += best_evidence(r.evidence) is None
            text = self.teacher.write(r)
            tok = self.tokenizers[r.agent]
            ids = list(tok(text, add_special_tokens=False)["input_ids"]) + [tok.eos_token_id]
            pids = apply_prompt_template(tok, r.prompt)
            out.append(Completion(prompt_ids=pids, completion_ids=ids, text=text, logprobs=[0.0] * len(ids),
                                  finish_reason="stop"))
        return out


def build_teacher(cfg: SFTConfig, seed: int = 0) -> Teacher:
    """The teacher ``cfg.teacher`` names."""
    if cfg.teacher == "oracle":
        return OracleTeacher(cfg, seed)
    if cfg.teacher == "verify":
        return VerifyingTeacher(cfg, seed)
    return LLMTeacher(cfg.llm)
