"""SFT data: annotate questions with a teacher through the real CPP loop, apply the paper's
filter, and read/write the per-agent dataset.

Annotation (:func:`annotate`) runs :func:`m1.team.cpp.run_episode` with a :class:`m1.train.teachers.TeacherTeam`
in place of the students, so every prompt in the dataset is exactly a prompt the CPP loop renders.

The filter (:func:`judge_trajectory`), per agent trajectory:

(a) *correct*: executing the agent's plan yields the correct answer — the most confident
    candidate among the agent's **own** tool results, read as an answer of the question's type
    (:func:`m1.team.answers.parse_answer`; a candidate of another kind, e.g. a span for a count,
    answers nothing), scores at least ``sft.min_score`` by the project's one scorer,
    :func:`m1.data.scoring.score_question` (accuracy for multiple choice, MRA for numeric, IoU
    for grounding, item F1 for M1-Synth's open-ended lists). The answer it wrote may also use
    teammates' evidence; that does not make a weak plan good.
(b) *single pass*: the plan was executed without revision (no ``DONE``, no replacement).

Topology: the complete one (the teacher team talks fully), or, for a share ``sft.dag_fraction`` of
the questions, a DAG with Agent Dropout drawn as MARL draws its rollouts' (:func:`m1.team.topology.sample_topology`),
so the students also learn to plan, revise and answer from the part of the memory such a rollout
shows them (a dropped agent writes nothing; the teacher cites only lines its prompt shows).

Examples taken from a trajectory: its plan turn if (a) and (b); its revision turns if (a) and (b)
(these are ``KEEP``), or, with ``sft.revision_examples``, if the agent's final answer is correct
and it revised (the students learn ``DONE``); its answer turn whenever that answer is correct.
``KEEP`` revisions are subsampled (``sft.keep_fraction``, a deterministic draw per turn): their
prompts are the longest and their target is trivial.
Dataset: one JSONL line per :class:`SFTExample` (prompt, target, provenance) plus
``manifest.json`` with the yield per family. Not here: training (:mod:`m1.train.sft`).
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from m1.config.cpp import CPPConfig
from m1.config.sft import SFTConfig
from m1.data.scoring import score_question
from m1.schema import Question, ToolSpec
from m1.seeding import derive_seed
from m1.synth.formats import of_families
from m1.team.answers import parse_answer
from m1.team.cpp import run_episode
from m1.team.memory import SharedMemory
from m1.team.plan import PlanFormatError
from m1.team.topology import Topology, complete_topology, sample_topology
from m1.team.trace import AgentTrace, Episode

DATASET_FILE = "examples.jsonl"
MANIFEST_FILE = "manifest.json"


class DatasetError(ValueError):
    """An SFT dataset file is missing or malformed."""


class SFTExample(BaseModel):
    """One training example: the student ``agent`` sees ``prompt`` and should write ``target``."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    kind: Literal["plan", "revision", "answer"]
    prompt: str
    target: str
    qid: str
    family: str | None = None
    category: str = ""
    episode_id: str
    round: int
    teacher: str


class TrajectoryVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qid: str
    family: str | None
    agent: str
    plan_parsed: bool
    own_correct: bool = Field(description="Filter (a): the plan's own results yield the correct answer.")
    single_pass: bool = Field(description="Filter (b): no revision replaced the plan.")
    answer_correct: bool = Field(description="The answer the agent wrote scores at least min_score.")
    kept: bool = Field(description="The plan passes the filter.")


def own_answer(ep: Episode, trace: AgentTrace) -> str | None:
    """What the agent's own results say: the most confident candidate (ties: the later step), in
    the canonical form of an answer; None when there is none or it is no valid answer of the
    question's type. Scored as free text, a span "3.00 5.00" would read as option "3" of a count."""
    ids = {s.memory_id for s in trace.steps}
    own = [e for e in ep.memory if e.id in ids and e.candidate is not None and not e.error]
    if not own:
        return None
    try:
        return parse_answer(max(own, key=lambda e: (e.confidence or 0.0, e.id)).candidate, ep.question).value
    except PlanFormatError:
        return None


def judge_trajectory(ep: Episode, trace: AgentTrace, cfg: SFTConfig) -> TrajectoryVerdict:
    """Apply the filter (module docstring) to one agent's trajectory."""
    plan_turns = [t for t in trace.turns if t.kind == "plan"]
    parsed = bool(plan_turns) and plan_turns[0].parsed is not None and bool(trace.plans)
    own_ok = parsed and score_question(ep.question, own_answer(ep, trace)).score >= cfg.min_score
    single = trace.revisions == 0 and not any(s.ref_error for s in trace.steps)
    ans_ok = score_question(ep.question, trace.answer).score >= cfg.min_score
    kept = own_ok and (single or not cfg.single_pass_only)
    fam = ep.question.family.value if ep.question.family else None
    return TrajectoryVerdict(qid=ep.question.qid, family=fam, agent=trace.name, plan_parsed=parsed,
                             own_correct=own_ok, single_pass=single, answer_correct=ans_ok, kept=kept)


def examples_from_episode(
    ep: Episode, cfg: SFTConfig, teacher: str
) -> tuple[list[SFTExample], list[TrajectoryVerdict]]:
    """The training examples and the filter verdicts of one annotated episode."""
    examples: list[SFTExample] = []
    verdicts = []
    q = ep.question
    for trace in ep.agents:
        v = judge_trajectory(ep, trace, cfg)
        verdicts.append(v)
        for turn in trace.turns:
            if turn.parsed is None:
                continue
            if turn.kind == "plan":
                take = v.kept
            elif turn.kind == "revision":
                take = v.kept or (cfg.revision_examples and v.answer_correct and not v.single_pass)
                if take and turn.parsed == "KEEP":
                    draw = derive_seed("keep", ep.episode_id, trace.agent, turn.round) % 10_000 / 10_000
                    take = draw < cfg.keep_fraction
            else:
                take = v.answer_correct
            if take:
                examples.append(SFTExample(
                    agent=trace.name, kind=turn.kind, prompt=turn.prompt,
                    target=turn.parsed if turn.kind != "answer" else turn.text.strip(), qid=q.qid,
                    family=v.family, category=q.category, episode_id=ep.episode_id, round=turn.round,
                    teacher=teacher))
    return examples, verdicts


def yield_by_family(verdicts: Sequence[TrajectoryVerdict]) -> dict[str, dict[str, float]]:
    """Per family (and ``all``): trajectories, plans kept, yield, why plans were dropped, and
    ``answered``: how many of the teacher agents' own answers were right (the teacher's accuracy,
    which its answer examples are)."""
    groups: dict[str, list[TrajectoryVerdict]] = defaultdict(list)
    for v in verdicts:
        groups[v.family or "none"].append(v)
        groups["all"].append(v)
    out = {}
    for fam in sorted(groups, key=lambda f: (f == "all", f)):
        vs = groups[fam]
        out[fam] = {
            "trajectories": len(vs), "kept": sum(v.kept for v in vs),
            "yield": round(sum(v.kept for v in vs) / len(vs), 4),
            "unparsed": sum(not v.plan_parsed for v in vs),
            "wrong": sum(v.plan_parsed and not v.own_correct for v in vs),
            "revised": sum(v.own_correct and not v.single_pass for v in vs),
            "answered": sum(v.answer_correct for v in vs),
        }
    return out


def select_questions(questions: Sequence[Question], cfg: SFTConfig, where: str = "the split") -> list[Question]:
    """The questions to annotate: those of ``cfg.families`` (all when unset), then the first
    ``cfg.max_questions``; a family filter that leaves nothing is a :class:`~m1.errors.UserError`."""
    out = of_families(list(questions), cfg.families, "sft.families", where)
    return out[: cfg.max_questions]


def annotation_topology(qid: str, num_agents: int, dag_fraction: float, seed: int, dropout: float = 0.25,
                        edge_prob: float = 0.5) -> Topology:
    """The teacher episode's topology for question ``qid``: a DAG with Agent Dropout for a share
    ``dag_fraction`` of the questions, else the complete one; one draw per (seed, question), so
    re-annotating a split, or a subset of it, gives every question the same topology."""
    rng = random.Random(derive_seed(seed, "annotation-topology", qid))
    if rng.random() >= dag_fraction:
        return complete_topology(num_agents)
    return sample_topology(num_agents, rng, dropout=dropout, edge_prob=edge_prob)


def annotate(
    questions: Sequence[Question],
    team: Any,
    tools: Any,
    catalogue: Sequence[ToolSpec],
    cpp_cfg: CPPConfig,
    sft_cfg: SFTConfig,
    seed: int = 0,
    progress: bool = False,
    dropout: float = 0.25,
    edge_prob: float = 0.5,
) -> tuple[list[SFTExample], list[TrajectoryVerdict], list[Episode]]:
    """Run one teacher episode per question on :func:`annotation_topology` (``dropout`` and
    ``edge_prob`` shape its DAGs: pass grpo's) and return the filtered examples, every verdict and
    the episodes."""

    examples: list[SFTExample] = []
    verdicts: list[TrajectoryVerdict] = []
    episodes: list[Episode] = []
    iterator: Any = questions
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        iterator = tqdm(questions, desc="annotate", unit="q")
    for q in iterator:
        if q.answer is None:
            raise DatasetError(f"question {q.qid!r} has no ground-truth answer: the filter needs one")
        topology = annotation_topology(q.qid, len(team.names), sft_cfg.dag_fraction, seed, dropout, edge_prob)
        ep = run_episode(q, team, tools, topology, catalogue, cpp_cfg, seed=seed, memory=SharedMemory())
        ex, vs = examples_from_episode(ep, sft_cfg, getattr(team.teacher, "name", "teacher"))
        examples += ex
        verdicts += vs
        episodes.append(ep)
    return examples, verdicts, episodes


def write_dataset(out_dir: str | Path, examples: Sequence[SFTExample], manifest: dict[str, Any]) -> Path:
    """Write ``examples.jsonl`` and ``manifest.json`` (counts per agent/kind added) under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (DATASET_FILE + ".tmp")
    with tmp.open("w") as f:
        for e in examples:
            f.write(e.model_dump_json() + "\n")
    tmp.replace(out / DATASET_FILE)
    counts = Counter(f"{e.agent}/{e.kind}" for e in examples)
    manifest = {**manifest, "examples": len(examples), "counts": dict(sorted(counts.items()))}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out / DATASET_FILE


def read_dataset(path: str | Path) -> list[SFTExample]:
    """Read a dataset file (or the directory holding ``examples.jsonl``); malformed lines are an error."""
    path = Path(path)
    file = path / DATASET_FILE if path.is_dir() else path
    if not file.is_file():
        raise DatasetError(f"no SFT dataset at {str(path)!r} (expected {DATASET_FILE}; run jobs/annotate.py)")
    out = []
    for i, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(SFTExample.model_validate_json(line))
        except ValueError as e:
            raise DatasetError(f"{file}:{i}: not an SFT example: {str(e)[:200]}") from None
    return out
