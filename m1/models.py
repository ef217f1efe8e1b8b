"""The tiny heterogeneous model zoo and the texts the project tokenizer learns.

- :func:`plan_corpus` — plans, revisions, answers, prompts and questions in the plan language over
  the tool catalogue: what :func:`m1.checkpoint.train_tokenizer` is trained on, so a tiny model's
  vocabulary fits exactly what it will read and write.
- :func:`build_model` makes a ``Qwen2ForCausalLM`` / ``Qwen3ForCausalLM`` from an
  :class:`~m1.config.AgentSpec`; :func:`init_team` writes every agent as a HF checkpoint
  directory in a :class:`~m1.checkpoint.TeamDir`.

Not here: reading and writing checkpoints (:mod:`m1.checkpoint`), training (``m1.train``) and
generation (``m1.engines``).
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from m1.checkpoint import ModelError, TeamDir, load_tokenizer, save_agent, train_tokenizer
from m1.config import AgentSpec, M1Config, SynthConfig, TeamConfig
from m1.errors import UserError
from m1.schema import Question, TaskType, ToolSpec
from m1.synth.generate import split_questions
from m1.team.plan import (
    Evidence,
    Plan,
    PlanStep,
    PromptLimits,
    render_answer_prompt,
    render_plan_prompt,
    render_tool_line,
    schema_types,
)
from m1.tools.registry import catalogue

# ------------------------------------------------------------------------------ corpus


def default_catalogue() -> list[ToolSpec]:
    """The tool catalogue the tokenizer learns (that of :mod:`m1.tools`)."""
    return list(catalogue())


_COLOURS = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple", "pink", "grey"]
_SHAPES = ["circle", "square", "triangle", "star", "ball", "box", "person", "car", "cup", "face"]
_WORDS = ["HELLO", "EXIT", "STOP", "OPEN", "M1", "CAFE", "42", "SALE", "LAB", "GO"]
_DIRS = ["left", "right", "up", "down", "front-left", "back-right", "closer", "farther"]


def random_question(rng: random.Random) -> Question:
    """A synthetic question of one of six representative forms (corpus and benchmark input)."""
    c, s, w = rng.choice(_COLOURS), rng.choice(_SHAPES), rng.choice(_WORDS)
    kind = rng.randrange(6)
    if kind == 0:
        return Question(
            qid="q",
            video="v",
            question=f"How many {c} {s}s appear in the video?",
            options=[str(n) for n in rng.sample(range(0, 12), 4)],
            task_type=TaskType.MULTIPLE_CHOICE,
        )
    if kind == 1:
        return Question(
            qid="q",
            video="v",
            question=f"Which text is shown on the {c} sign?",
            options=rng.sample(_WORDS, 4),
            task_type=TaskType.MULTIPLE_CHOICE,
        )
    if kind == 2:
        return Question(
            qid="q",
            video="v",
            question=f"In which direction does the {c} {s} move?",
            options=rng.sample(_DIRS, 4),
            task_type=TaskType.MULTIPLE_CHOICE,
        )
    if kind == 3:
        return Question(
            qid="q",
            video="v",
            question=f"What is the distance in metres from the {s} to the {c} {w}?",
            task_type=TaskType.NUMERIC,
        )
    if kind == 4:
        return Question(qid="q", video="v", question=f"When does the {c} {s} appear?", task_type=TaskType.GROUNDING)
    return Question(
        qid="q",
        video="v",
        question=f"What happens after the {c} {s} shows '{w}'?",
        options=[f"the {rng.choice(_SHAPES)} {rng.choice(_DIRS)}" for _ in range(5)],
        task_type=TaskType.MULTIPLE_CHOICE,
    )


def _concrete(sub: Any) -> dict[str, Any]:
    """The first non-null alternative of an argument schema (pydantic writes Optional as anyOf)."""
    if not isinstance(sub, dict):
        return {}
    for alt in sub.get("anyOf") or sub.get("oneOf") or []:
        if schema_types(alt):
            return _concrete(alt)
    return sub


def _random_args(spec: ToolSpec, rng: random.Random, step: int) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, sub in (spec.args_schema.get("properties", {}) or {}).items():
        sub = _concrete(sub)
        types = schema_types(sub)
        typ = types[0] if types else None
        lo = sub.get("minimum", sub.get("exclusiveMinimum", 0))
        hi = sub.get("maximum", sub.get("exclusiveMaximum", 600))
        if step > 1 and name in ("start", "end") and rng.random() < 0.3:
            args[name] = f"${rng.randrange(1, step)}.{name}"
        elif typ == "integer":
            args[name] = rng.randint(max(int(lo), 1), min(int(hi), 32))
        elif typ == "number":
            # strictly inside (lo, hi) so exclusive bounds hold too
            args[name] = round(rng.uniform(lo + 0.1, hi - 0.1), 1) if hi - lo > 0.2 else (lo + hi) / 2
        elif typ == "string":
            args[name] = f"{rng.choice(_COLOURS)} {rng.choice(_SHAPES)}"
        elif typ == "boolean":
            args[name] = rng.random() < 0.5
    return args


def question_corpus(n: int, seed: int = 0) -> list[Question]:
    """``n`` questions: M1-Synth's own (no video is rendered)
    interleaved with :func:`random_question` forms, so the tokenizer sees both vocabularies."""
    rng = random.Random(seed)
    synth = split_questions(SynthConfig(), "train", max(1, n // 12), seed=seed)
    rng.shuffle(synth)
    return [synth[i // 2] if i % 2 and i // 2 < len(synth) else random_question(rng) for i in range(n)]


def plan_corpus(catalogue: Sequence[ToolSpec], n: int = 400, seed: int = 0) -> list[str]:
    """Representative texts of everything the models read and write: prompts for the three
    moments, plans, revisions, answers and tool-result lines, over :func:`question_corpus`."""
    rng = random.Random(seed)
    limits = PromptLimits(max_context=4096, max_new_tokens=128)
    texts = [json.dumps(t.model_dump()) for t in catalogue]
    for q in question_corpus(n, seed):
        texts.append(render_plan_prompt(q, catalogue, limits))
        steps = [
            PlanStep(index=i, tool=(t := rng.choice(list(catalogue))).name, args=_random_args(t, rng, i))
            for i in range(1, rng.randrange(2, 6))
        ]
        texts.append(Plan(steps=steps).render())
        texts.append(rng.choice(["KEEP", "DONE"]))
        ev = [
            Evidence(
                agent=f"a{rng.randrange(1, 5)}",
                step=i,
                tool=s.tool,
                text=f"candidate={rng.choice('ABCD')} conf={rng.random():.2f} "
                f"{rng.choice(_COLOURS)} {rng.choice(_SHAPES)} at {rng.randrange(600)}s",
            )
            for i, s in enumerate(steps, 1)
        ]
        texts.append(render_answer_prompt(q, ev, limits))
        texts.append(rng.choice("ABCDE") if q.options else f"{rng.uniform(0, 60):.1f} {rng.uniform(60, 120):.1f}")
    return texts


# ----------------------------------------------------------------------------- models


def build_model(spec: AgentSpec, tokenizer, seed: int = 0):
    """A randomly initialised causal LM of ``spec``'s architecture and sizes (float32)."""
    import torch  # noqa: PLC0415
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM  # noqa: PLC0415

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_context,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if spec.arch == "qwen2":
        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    else:
        config, cls = Qwen3Config(head_dim=spec.head_dim, **common), Qwen3ForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    return model.float().eval()


def init_team(
    team: TeamConfig,
    out: str | Path,
    seed: int = 0,
    catalogue: Sequence[ToolSpec] | None = None,
    extra_texts: Iterable[str] = (),
) -> dict[str, Path]:
    """Train (or load) the tokenizer and write every tiny agent under ``out``; agents with a
    ``path`` are left where they are, endpoint agents without one have no directory. Returns agent
    name → checkpoint directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if team.tokenizer_path:
        tokenizer = load_tokenizer(team.tokenizer_path)
    else:
        cat = list(catalogue) if catalogue is not None else default_catalogue()
        tokenizer = train_tokenizer([*plan_corpus(cat, seed=seed), *extra_texts], team.vocab_size)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    dirs: dict[str, Path] = {}
    for i, spec in enumerate(team.agents):
        if spec.engine == "endpoint" and not spec.path:
            continue  # generates through its endpoint: no weights to write
        if spec.path:
            if not (Path(spec.path) / "config.json").is_file():
                raise ModelError(f"agent {spec.name}: path {spec.path!r} has no config.json")
            dirs[spec.name] = Path(spec.path)
            continue
        dirs[spec.name] = save_agent(build_model(spec, tokenizer, seed=seed * 1000 + i), tokenizer, out / spec.name)
    TeamDir(out).write_manifest(team, seed, dirs)
    return dirs


# ------------------------------------------------------------------------------ prompt format

PROMPTS_KEY = "prompt_catalogue"


class PromptFormatWarning(UserWarning):
    """A team was trained on prompts whose tool catalogue differs from the one rendered now."""


def catalogue_lines(specs: Sequence[ToolSpec] | None = None) -> list[str]:
    """The tool-catalogue lines every plan and revision prompt carries (default: :mod:`m1.tools`')."""
    return [render_tool_line(t) for t in (specs if specs is not None else catalogue())]


def _prompt_catalogue(prompt: str) -> list[str] | None:
    """The catalogue lines of a rendered plan prompt (between ``Tools:`` and ``Task:``)."""
    lines = prompt.split("\n")
    if "Tools:" not in lines:
        return None
    start = lines.index("Tools:") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(("Task:", "Plan:"))), len(lines))
    return lines[start:end]


def dataset_catalogue(dataset: str | Path) -> list[str] | None:
    """The catalogue lines of an SFT data set's first plan prompt (None: no such example)."""
    path = Path(dataset) / "examples.jsonl"
    if not path.is_file():
        return None
    with path.open() as f:
        for line in f:
            ex = json.loads(line)
            if ex.get("kind") == "plan" and isinstance(ex.get("prompt"), str):
                return _prompt_catalogue(ex["prompt"])
    return None


def trained_catalogue(team_dir: str | Path, _depth: int = 0) -> list[str] | None:
    """The tool-catalogue lines of the prompts ``team_dir`` was trained on: recorded in its
    ``team.json`` (SFT and MARL write it), else read from its SFT data set, else — a MARL team
    written before the record existed — its start team's; None when unknown (an untrained team,
    or its data set gone)."""
    td = TeamDir(team_dir)
    if not td.exists() or _depth > 8:
        return None
    body = td.manifest()
    if isinstance(body.get(PROMPTS_KEY), list):
        return [str(x) for x in body[PROMPTS_KEY]]
    if isinstance(body.get("sft"), dict) and body["sft"].get("dataset"):
        return dataset_catalogue(body["sft"]["dataset"])
    if isinstance(body.get("marl"), dict) and body["marl"].get("from"):
        return trained_catalogue(body["marl"]["from"], _depth + 1)
    return None


def _as_trained(spec: ToolSpec, line: str) -> ToolSpec | None:
    """``spec`` as an older catalogue ``line`` described it — the arguments that line lists, in its
    order, and its description — or None when no such cut renders ``line`` exactly (an argument it
    lists is gone or changed type, or one it lacks is required now)."""
    head, sep, description = line.partition(") ")
    if not sep or not head.startswith(spec.name + "("):
        return None
    listed = [p.split(":", 1)[0].rstrip("?") for p in head[len(spec.name) + 1:].split(", ") if p]
    schema = spec.args_schema or {}
    props = schema.get("properties", {}) or {}
    required = list(schema.get("required", []) or [])
    if any(n not in props for n in listed) or any(r not in listed for r in required):
        return None
    cut = {**schema, "properties": {n: props[n] for n in listed}}  # every required argument is listed
    out = spec.model_copy(update={"args_schema": cut, "description": description})
    return out if render_tool_line(out) == line else None


def team_catalogue(team_dir: str | Path, specs: Sequence[ToolSpec] | None = None) -> list[ToolSpec]:
    """The tool catalogue ``team_dir``'s prompts render: today's (``specs``, default
    :mod:`m1.tools`'), or — for a team trained on an older format of it — the one it was trained
    on, rebuilt from today's tools cut to the arguments and descriptions it saw. A model trained
    from scratch reads the catalogue as part of its prompt: a team trained before the ``step``
    argument wrote ``2. fine_browser {}`` (a format error) under the new lines, on questions it had
    answered right. The plans it writes are checked against the same cut catalogue, so it cannot
    call an argument it never saw. Warns (:class:`PromptFormatWarning`) and returns today's when
    the old catalogue cannot be rebuilt (a tool it knew is gone, an argument it never saw is now
    required); says on stderr when it renders an older one."""
    now = list(specs if specs is not None else catalogue())
    trained = trained_catalogue(team_dir)
    lines_now = catalogue_lines(now)
    if trained is None or trained == lines_now:
        return now
    by_name = {t.name: t for t in now}
    rebuilt = [_as_trained(by_name[n], line) if (n := line.split("(", 1)[0]) in by_name else None
               for line in trained]
    if all(t is not None for t in rebuilt):
        hidden = sorted({t.name for t in now} - {t.name for t in rebuilt})
        print(f"note: {team_dir} was trained on an older tool catalogue; its prompts render that one"
              + (f" (tools it never saw are left out: {', '.join(hidden)})" if hidden else ""), file=sys.stderr)
        return [t for t in rebuilt if t is not None]
    changed = [(a, b) for a, b in zip(trained, lines_now, strict=False) if a != b]
    example = (f"e.g. trained on {changed[0][0]!r}, now {changed[0][1]!r}" if changed
               else f"{len(trained)} tool lines then, {len(now)} now")
    warnings.warn(
        f"{team_dir} was trained on prompts with another tool catalogue ({example}), which today's tools cannot "
        "render; its agents may not plan in the prompts rendered now. Train it again, or evaluate it with the "
        "commit it was trained with", PromptFormatWarning, stacklevel=2)
    return now


def with_team_summariser(cfg: M1Config, team_dir: str | Path) -> M1Config:
    """``cfg`` with the summariser stored in ``team_dir`` applied (:func:`m1.team.cpp.team_summariser`;
    an explicit ``cpp.summariser`` wins); call it wherever a team folder is loaded."""
    from m1.team.cpp import team_summariser  # noqa: PLC0415

    cpp = team_summariser(cfg.cpp, [a.name for a in cfg.team.agents], team_dir)
    return cfg if cpp is cfg.cpp else cfg.model_copy(update={"cpp": cpp})


def ensure_team(cfg: M1Config, team: str | None) -> Path:
    """The team directory to use; an untrained tiny team is created when none is given or found."""
    path = Path(team) if team else Path(cfg.output_dir) / "team"
    if team and not path.is_dir():
        raise UserError(f"--team {team!r} is not a directory")
    if not TeamDir(path).exists():
        print(f"note: no team in {path}: writing an UNTRAINED tiny team there (random weights; its plans and "
              "answers are noise until SFT/MARL)", file=sys.stderr)
        init_team(cfg.team, path, seed=cfg.seed)
    return path
