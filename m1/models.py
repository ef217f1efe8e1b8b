"""The project tokenizer and the tiny heterogeneous model zoo, in Hugging Face format.

- :func:`train_tokenizer` trains a byte-level BPE (``tokenizers``) on the plan language, the tool
  catalogue and a question corpus. Byte-level means every string encodes with no unknown token
  and decodes back exactly. It is saved as ``tokenizer.json`` and always loaded with
  :class:`~transformers.PreTrainedTokenizerFast` — never ``AutoTokenizer``, which in
  transformers 5.x swaps a regex pre-tokenizer into a qwen2 directory and changes the ids.
- :func:`build_model` makes a ``Qwen2ForCausalLM`` / ``Qwen3ForCausalLM`` from an
  :class:`~m1.config.AgentSpec`; :func:`init_team` writes every agent as a HF checkpoint
  directory (safetensors + config + tokenizer); :func:`load_agent` reads one back — a real
  checkpoint (``AgentSpec.path``) loads through the same function.

Not here: training (``m1.sft``, ``m1.grpo``) and generation (``m1.engines``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from m1.config import AgentSpec, TeamConfig
from m1.plan import (
    Evidence,
    Plan,
    PlanStep,
    PromptLimits,
    render_answer_prompt,
    render_plan_prompt,
    schema_types,
)
from m1.schema import Question, TaskType, ToolSpec

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
TEAM_MANIFEST = "team.json"


class ModelError(ValueError):
    """A model or tokenizer directory is missing or unusable."""


# ------------------------------------------------------------------------------ corpus


def _fallback_catalogue() -> list[ToolSpec]:
    # Only a tokenizer-corpus source for when m1.tools is not importable; the real catalogue
    # comes from m1.tools.registry and the plan language never hard-codes tools.
    seg = {"start": {"type": "number"}, "end": {"type": "number"}}
    return [
        ToolSpec(
            name="global_sampling",
            description="Uniformly sample n frames over the whole video.",
            args_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        ),
        ToolSpec(
            name="video_retrieval",
            description="Find the segments that best match a text query.",
            args_schema={
                "type": "object",
                "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
                "required": ["query"],
            },
        ),
        ToolSpec(
            name="image_retrieval",
            description="Find the frames that best match a text query.",
            args_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        ),
        ToolSpec(
            name="rough_browser",
            description="Describe a segment coarsely.",
            args_schema={"type": "object", "properties": seg, "required": ["start", "end"]},
        ),
        ToolSpec(
            name="fine_browser",
            description="Answer the question from dense frames of a segment.",
            args_schema={"type": "object", "properties": seg, "required": ["start", "end"]},
        ),
        ToolSpec(
            name="spatial",
            description="Count, locate and relate objects; answers the question.",
            args_schema={"type": "object", "properties": seg},
        ),
        ToolSpec(
            name="grounding",
            description="Find when the queried event happens.",
            args_schema={"type": "object", "properties": {"query": {"type": "string"}}},
        ),
    ]


def default_catalogue() -> list[ToolSpec]:
    """The tool catalogue of :mod:`m1.tools` when it is importable, otherwise a stand-in."""
    try:
        from m1.tools.registry import catalogue  # noqa: PLC0415  (optional, lands separately)

        return list(catalogue())
    except ImportError:
        return _fallback_catalogue()


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
    """``n`` questions: M1-Synth's own (when :mod:`m1.synth` is importable; no video is rendered)
    interleaved with :func:`random_question` forms, so the tokenizer sees both vocabularies."""
    rng = random.Random(seed)
    synth: list[Question] = []
    try:
        from m1.config import SynthConfig  # noqa: PLC0415
        from m1.synth.generate import split_questions  # noqa: PLC0415

        synth = split_questions(SynthConfig(), "train", max(1, n // 12), seed=seed)
    except ImportError:
        pass
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


# --------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Train a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: no unknown tokens, ever
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, clean_up_tokenization_spaces=False
    )


def load_tokenizer(path: str | Path):
    """Load ``tokenizer.json`` from a directory (or the file itself) as ``PreTrainedTokenizerFast``."""
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise ModelError(f"no tokenizer.json at {str(path)!r}")
    if path.is_dir() and (path / "tokenizer_config.json").is_file():
        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    else:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(file), eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)
    tok.clean_up_tokenization_spaces = False
    if tok.pad_token is None:  # real checkpoints often lack one; generation pads with it
        tok.pad_token = tok.eos_token
    return tok


def token_counter(tokenizer):
    """A :data:`m1.plan.TokenCounter` that counts with ``tokenizer`` (no special tokens added)."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


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


def save_agent(model, tokenizer, out: str | Path) -> Path:
    """Write ``model`` + ``tokenizer`` as a HF checkpoint directory (safetensors)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


def load_agent(path: str | Path, dtype: str = "float32"):
    """Load ``(model, tokenizer)`` from a HF checkpoint directory, tiny or real."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelError(f"{str(path)!r} is not a model directory (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
    return model.eval(), load_tokenizer(path)


def agent_dir(team_dir: str | Path, spec: AgentSpec) -> Path:
    """Where ``spec``'s checkpoint lives: its ``path`` if set, else ``team_dir/name``."""
    return Path(spec.path) if spec.path else Path(team_dir) / spec.name


def init_team(
    team: TeamConfig,
    out: str | Path,
    seed: int = 0,
    catalogue: Sequence[ToolSpec] | None = None,
    extra_texts: Iterable[str] = (),
) -> dict[str, Path]:
    """Train (or load) the tokenizer and write every tiny agent under ``out``; agents with a
    ``path`` are left where they are. Returns agent name → checkpoint directory."""
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
        if spec.path:
            if not (Path(spec.path) / "config.json").is_file():
                raise ModelError(f"agent {spec.name}: path {spec.path!r} has no config.json")
            dirs[spec.name] = Path(spec.path)
            continue
        dirs[spec.name] = save_agent(build_model(spec, tokenizer, seed=seed * 1000 + i), tokenizer, out / spec.name)
    manifest = {"team": team.model_dump(mode="json"), "seed": seed, "agents": {k: str(v) for k, v in dirs.items()}}
    (out / TEAM_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return dirs


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
