"""Configuration plumbing: the strict pydantic base model, YAML loading and dotted overrides.

Pydantic models are the one source of truth for every setting. A YAML file is an instance of
:class:`m1.config.M1Config` (any subset of it); command-line overrides are dotted
``key=value`` pairs whose values are parsed as YAML scalars/lists. Nothing here knows about
any particular section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


class ConfigError(ValueError):
    """A configuration could not be built; the message names each offending key and value."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


def _format_validation_error(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            problems.append(f"{key} = {value!r}: unknown key")
        else:
            problems.append(f"{key} = {value!r}: {e['msg']}")
    return problems


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["team.num_agents=2", "synth.fps=8"]`` into a nested dict.

    Values are parsed as YAML (``3`` → int, ``[1, 2]`` → list, ``null`` → None); a value that
    is not valid YAML is kept as a string. A pair without ``=`` is an error.
    """
    tree: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"{item!r}: an override must look like key.subkey=value"])
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError([f"{item!r}: empty key segment"])
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError([f"{key}: conflicts with an earlier override of {part}"])
            node = nxt
        node[parts[-1]] = value
    return tree


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config file {str(path)!r} does not exist"])
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError([f"config file {str(path)!r} is not valid YAML: {e}"]) from e
    if not isinstance(data, dict):
        raise ConfigError([f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}"])
    return data


def build(model: type[M], *layers: dict[str, Any]) -> M:
    """Validate the merge of ``layers`` (later wins) as ``model``; raise :class:`ConfigError`."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    try:
        return model.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e)) from None


def to_yaml(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
