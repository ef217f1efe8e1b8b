"""Checkpoint and tokenizer I/O, and the team folder layout: the lowest layer that touches model
files. It imports nothing of the project but its settings, so every layer above (engines,
perception back-ends, training, the team loop) can read and write checkpoints without pulling in
the plan language or the tool catalogue.

- :func:`train_tokenizer` trains a byte-level BPE (``tokenizers``). Byte-level means every string
  encodes with no unknown token and decodes back exactly. It is saved as ``tokenizer.json`` and
  always loaded with :class:`~transformers.PreTrainedTokenizerFast` — never ``AutoTokenizer``,
  which in transformers 5.x swaps a regex pre-tokenizer into a qwen2 directory and changes the ids.
- :func:`save_agent` / :func:`load_agent` write and read one agent as a HF checkpoint directory
  (safetensors + config + tokenizer); a real checkpoint (``AgentSpec.path``) loads the same way.
- :func:`apply_prompt_template` is the one place a rendered prompt becomes token ids (engines, SFT,
  annotation): a tokenizer with a chat template (Qwen2.5-Instruct's ChatML, …) gets the prompt as
  one user turn with the generation prompt; a tokenizer without one but with a BOS token (a
  pretrained *base* model such as Gemma-3-270m) gets the project's **base template**
  ``<bos>`` + prompt — the prompts already end with their cue (``Plan:``, ``Answer:``, ``Next: …``),
  and SFT teaches what follows it; the project tokenizer (no BOS, no template) gets the bare prompt,
  as before. The plan language, parsers and rewards do not change.
- :class:`TeamDir` owns a team folder: ``team.json`` (the manifest), ``tokenizer/`` and one
  checkpoint directory per agent; the manifest may record the summariser chosen on a validation
  split (``summariser``, written by ``m1 models choose-summariser``).

Not here: which texts the tokenizer learns and the tiny model zoo (:mod:`m1.models`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m1.config.team import AgentSpec, TeamConfig

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
TEAM_MANIFEST = "team.json"
SUMMARISER_KEY = "summariser"  # the team's chosen summariser in its manifest (TeamDir.summariser_choice)


class ModelError(ValueError):
    """A model or tokenizer directory is missing or unusable."""


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


def apply_prompt_template(tokenizer, prompt: str) -> list[int]:
    """Token ids of ``prompt`` as the model behind ``tokenizer`` expects it (rule in the module doc)."""
    template = getattr(tokenizer, "chat_template", None)
    if template:
        # enable_thinking=False: Qwen3's template then opens and closes an empty <think> block, so the
        # model writes its plan at once (templates that do not know the flag ignore it)
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True, enable_thinking=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    bos = getattr(tokenizer, "bos_token_id", None)
    return [bos, *ids] if bos is not None else ids


def template_overhead(tokenizer) -> int:
    """How many tokens :func:`apply_prompt_template` adds around a prompt (taken off the context a
    prompt may fill, since prompts are fitted by counting their own text)."""
    if tokenizer is None:  # an endpoint agent without a local tokenizer: the server applies its template
        return 0
    bare = len(tokenizer("x", add_special_tokens=False)["input_ids"])
    return max(0, len(apply_prompt_template(tokenizer, "x")) - bare)


def token_counter(tokenizer):
    """A :data:`m1.team.plan.TokenCounter` that counts with ``tokenizer`` (no special tokens added);
    with no tokenizer (an endpoint agent), the UTF-8 byte length: an upper bound for byte-level BPEs."""
    if tokenizer is None:
        return lambda text: len(text.encode("utf-8"))
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


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
    """Where ``spec``'s checkpoint lives: in a team written by SFT or MARL (its manifest records
    ``sft`` or ``marl``), ``team_dir/name`` — the trained copy, also of an agent that started from a
    real checkpoint; otherwise its ``path`` if set (a stale directory of the same name in an
    untrained team does not shadow it), else ``team_dir/name``."""
    own = Path(team_dir) / spec.name
    if spec.path and not ((own / "config.json").is_file() and _trained_team(Path(team_dir))):
        return Path(spec.path)
    return own


def _trained_team(root: Path) -> bool:
    try:
        body = json.loads((root / TEAM_MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return bool(body.get("sft") or body.get("marl"))




@dataclass(frozen=True)
class TeamDir:
    """A team folder: ``team.json``, ``tokenizer/`` and ``<agent name>/`` checkpoints (an agent whose
    spec has a ``path`` lives there instead). Written by ``m1 models init``, SFT and MARL; read by
    every command that loads a team."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest_path(self) -> Path:
        return self.root / TEAM_MANIFEST

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    def exists(self) -> bool:
        """Whether a team was written here (its manifest is the last thing written)."""
        return self.manifest_path.is_file()

    def agent(self, spec: AgentSpec) -> Path:
        """Where ``spec``'s checkpoint lives."""
        return agent_dir(self.root, spec)

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            raise ModelError(f"{str(self.root)!r} holds no team (no {TEAM_MANIFEST})")
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, team: TeamConfig, seed: int, agents: Mapping[str, str | Path] | None = None,
                       **provenance: Any) -> Path:
        """Write ``team.json``: the team's settings, the seed, agent name → checkpoint directory and
        where the team came from (``sft={...}``, ``marl={...}``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        body: dict[str, Any] = {"team": team.model_dump(mode="json"), "seed": seed}
        if agents is not None:
            body["agents"] = {k: str(v) for k, v in agents.items()}
        body.update(provenance)
        self.manifest_path.write_text(json.dumps(body, indent=2))
        return self.manifest_path

    def summariser_choice(self) -> dict[str, Any] | None:
        """The summariser chosen for this team on a validation split (``m1 models choose-summariser``):
        ``{"agent": name, "scores": {name: percent}, ...}``; None when none was chosen (a manifest
        written before the field existed included)."""
        choice = self.manifest().get(SUMMARISER_KEY)
        if choice is None:
            return None
        if not isinstance(choice, dict) or not isinstance(choice.get("agent"), str):
            raise ModelError(f"{self.manifest_path}: {SUMMARISER_KEY!r} must be an object with an 'agent' name, "
                             f"got {choice!r}; rerun `m1 models choose-summariser` or delete the field")
        return choice

    def write_summariser_choice(self, choice: Mapping[str, Any]) -> Path:
        """Record ``choice`` (an ``agent`` name, the scores it was chosen by, the split) in the manifest,
        keeping everything else. SFT and MARL write a fresh manifest without it: their weights differ
        from those it was chosen for (MARL carries its start team's choice over, marked as such)."""
        if not isinstance(choice.get("agent"), str):
            raise ModelError(f"a summariser choice needs an 'agent' name, got {dict(choice)!r}")
        body = self.manifest()
        body[SUMMARISER_KEY] = dict(choice)
        self.manifest_path.write_text(json.dumps(body, indent=2))
        return self.manifest_path

    def copy_tokenizer_from(self, other: TeamDir) -> None:
        """Copy ``other``'s ``tokenizer/`` here (nothing when it has none)."""
        if other.tokenizer_dir.is_dir():
            shutil.copytree(other.tokenizer_dir, self.tokenizer_dir, dirs_exist_ok=True)


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
