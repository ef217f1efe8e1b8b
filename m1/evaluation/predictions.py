"""The files of one evaluation directory, ``<out>/<system>``: the predictions a run streams there
(:class:`Prediction`, one JSON line per finished question in ``predictions.jsonl``), the ``run.json``
that says what made them, and the lock a run holds while it writes them. How a run fills the
directory, and what it does on a resume, is :func:`m1.evaluation.harness.run_system`'s.

- :func:`read_predictions` reads the file back, cutting off a torn last line when asked to repair it;
  anything else malformed, or a qid twice, is an :class:`EvalError`, not a guess.
- :func:`check_manifest` writes ``run.json`` on a fresh run and refuses a resume with other settings;
  its ``provenance`` (:func:`provenance`, the git commit) is recorded, not compared.
- :func:`held` is the lock: a second run into the same directory is refused with the first's pid.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREDICTIONS = "predictions.jsonl"
MANIFEST = "run.json"
PROVENANCE = "provenance"  # run.json's key that a resume does not compare


class EvalError(ValueError):
    """An evaluation cannot go on as asked: a corrupt predictions file, a resume with other settings,
    a system that answered the wrong question."""


class Prediction(BaseModel):
    """One finished question: one line of ``predictions.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    qid: str
    system: str
    prediction: str = Field(description="The text scored by the benchmark's official parser; '' = no answer.")
    frames: int = Field(ge=0, description="Distinct frames decoded for this question.")
    seconds: float = Field(ge=0.0, description="Wall time of the question, end to end.")
    tool_calls: int = Field(0, ge=0, description="Tool calls executed (episode cache hits excluded).")
    tool_seconds: float = Field(0.0, ge=0.0)
    agent_answers: dict[str, str | None] = Field(
        default_factory=dict, description="Each agent's own parsed answer (None: unparseable), by agent name.")
    agent_scores: dict[str, float | None] = Field(
        default_factory=dict, description="Each agent's mean token log-prob over its answer, by agent name (what "
        "cpp.aggregation=top_score compares; None: no log-probs). Empty in predictions written before it existed.")
    aggregation: str | None = Field(None, description="vote | median | summariser | none | single | solver.")
    plan_parse: float | None = Field(None, ge=0.0, le=1.0, description="Share of agents whose plan parsed.")
    answer_parse: float | None = Field(None, ge=0.0, le=1.0, description="Share of agents whose answer parsed.")
    error: str | None = Field(None, description="A tool error met on the way (the question still counts).")


def read_predictions(path: Path, system: str | None = None, repair: bool = False) -> tuple[dict[str, Prediction], bool]:
    """Read a predictions file → (qid → Prediction, whether a torn last line was found).

    ``repair`` cuts a torn last line off the file (so appends start on a fresh line)."""
    if not path.is_file():
        return {}, False
    data = path.read_bytes()
    out: dict[str, Prediction] = {}
    offset, torn = 0, False
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1
        if raw.strip():
            try:
                p = Prediction.model_validate_json(raw)
            except ValidationError as e:
                if last:  # no newline after it: the write was interrupted
                    torn = True
                    break
                raise EvalError(f"{path}: line {i + 1} is not a prediction ({e.error_count()} error(s): "
                                f"{e.errors()[0]['msg']}); fix or delete the file") from None
            if system is not None and p.system != system:
                raise EvalError(f"{path}: line {i + 1} is a prediction of system {p.system!r}, not {system!r}")
            if p.qid in out:
                raise EvalError(f"{path}: qid {p.qid!r} appears twice (lines of two runs mixed?); "
                                "fix or delete the file")
            out[p.qid] = p
        offset += len(raw) + (0 if last else 1)
    if torn and repair:
        with path.open("r+b") as f:
            f.truncate(offset)
    return out, torn


def provenance() -> dict[str, Any]:
    """Where a run came from, recorded in ``run.json`` but not compared on a resume: the project's git
    commit, whether its tree had uncommitted changes, the packages and the machine
    (:func:`m1.provenance.record`)."""
    from m1.provenance import record

    return record()


def check_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``run.json`` on a fresh run; on a resume refuse settings that differ from the recorded ones
    (all but ``provenance``, which records the first run's commit)."""
    new = json.loads(json.dumps(manifest, sort_keys=True, default=str))
    if not path.is_file():
        path.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
        return
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise EvalError(f"{path} is not JSON ({e}); delete it (and the predictions beside it) to start over") from None
    diff = _diff({k: v for k, v in old.items() if k != PROVENANCE}, {k: v for k, v in new.items() if k != PROVENANCE})
    if diff:
        shown = "; ".join(f"{k}: was {a!r}, now {b!r}" for k, a, b in diff[:6])
        raise EvalError(f"{path.parent} holds predictions made with other settings ({shown}"
                        f"{'; ...' if len(diff) > 6 else ''}); pass --restart to discard them or choose another --out")


def _diff(old: Any, new: Any, key: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{key}.{k}" if key else k)
        return out
    return [] if old == new else [(key, old, new)]


LOCK = ".lock"


@contextlib.contextmanager
def held(out: Path) -> Iterator[None]:
    """Hold ``out`` for this process (an advisory ``flock`` on ``out/.lock``, released when the process
    ends however it ends): a second run answering into the same predictions file would write every
    question it shares with the first twice, so it is refused with the holder's pid."""
    import fcntl  # noqa: PLC0415 (POSIX; the project runs on Linux)

    f = (out / LOCK).open("a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise EvalError(f"{out} is being written by another run (pid {holder}): wait for it to finish, or give "
                        "another --out") from None
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
