"""Where a run came from: the project's git commit, the installed packages and the machine.

Recorded by every job that produces something another job reads — the annotated data set
(``manifest.json``), SFT and MARL teams (``team.json`` and their summaries) and evaluations
(``run.json``) — so that two runs that should agree but do not can be told apart. Two rebuilds of
one training seed from the same commit agree exactly on the same machine (stop 34), but did not
across commits and machines (stop 37), and nothing then said what differed: float reductions
depend on the CPU's vector width (torch picks kernels by it) and on the package versions, within
the pins of ``pyproject.toml``.

Nothing here is compared on a resume: a run resumed on another machine is still the same run's
settings, and its provenance says where it began.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the packages whose versions change what a trained model or a tool reading is, named in the record;
# every other installed distribution counts only in the fingerprint
KEY_PACKAGES = ("torch", "transformers", "peft", "numpy", "ray", "vllm", "onnxruntime", "rapidocr-onnxruntime", "av",
                "faster-whisper", "opencv-python", "opencv-python-headless", "scikit-image")


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """The checkout's commit and whether its tracked files have uncommitted changes (both None outside
    a git checkout or without git)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def installed() -> dict[str, str]:
    """Every installed distribution of this interpreter, name (lower case) → version."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return out


def packages_fingerprint(versions: dict[str, str]) -> str:
    """16 hex digits of SHA-256 over the sorted ``name==version`` lines: equal exactly when the
    installed set is."""
    lines = "\n".join(f"{k}=={v}" for k, v in sorted(versions.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """The machine's architecture, CPU model and count, and — when torch is already imported (this
    never imports it) — the vector instruction set torch chose its CPU kernels by."""
    import os

    out: dict[str, Any] = {"arch": platform.machine(), "cpu": cpu_model(), "cpus": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except (AttributeError, RuntimeError):
            out["torch_cpu_capability"] = None
    return out


def record(root: Path = ROOT) -> dict[str, Any]:
    """The provenance of a run started now: ``commit``/``dirty`` (:func:`git_state`), ``python``, the
    versions of :data:`KEY_PACKAGES` that are installed, ``packages`` (:func:`packages_fingerprint`
    of all of them) and ``machine`` (:func:`machine`)."""
    versions = installed()
    return {
        **git_state(root),
        "python": platform.python_version(),
        "versions": {k: versions[k] for k in KEY_PACKAGES if k in versions},
        "packages": packages_fingerprint(versions),
        "machine": machine(),
    }


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two :func:`record` results, one ``key: a -> b`` line per difference
    (nested keys dotted); empty when they agree. Keys one record lacks show as ``None``."""
    out: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{path}.{k}" if path else k)
        elif x != y:
            out.append(f"{path}: {x!r} -> {y!r}")

    walk(a, b, "")
    return out


# where each kind of output keeps its provenance: (file, keys to the record inside it)
_LOCATIONS = (
    ("team.json", ("marl", "provenance")),  # a MARL team (its start team's SFT record is in that team)
    ("team.json", ("sft", "provenance")),
    ("manifest.json", ("provenance",)),  # an annotated SFT data set
    ("run.json", ("provenance",)),  # an evaluation's predictions
)


def read(path: str | Path) -> tuple[str, dict[str, Any] | None]:
    """The provenance recorded in ``path`` — a team directory, an annotated data set or an evaluation's
    output directory (or the ``team.json``/``manifest.json``/``run.json`` itself) — as ``(what, record)``:
    ``what`` names where it was found, ``record`` is None when the output predates the record. Raises
    :class:`FileNotFoundError` when ``path`` holds none of the three files."""
    import json

    p = Path(path)
    for name, keys in _LOCATIONS:
        f = p if p.name == name else p / name
        if not f.is_file():
            continue
        body: Any = json.loads(f.read_text())
        if name == "team.json" and keys[0] not in body:
            continue
        for k in keys:
            body = body.get(k) if isinstance(body, dict) else None
        return f"{f} ({'.'.join(keys)})", body
    raise FileNotFoundError(f"{str(p)!r} holds no team.json, manifest.json (annotated data) or run.json "
                            "(an evaluation)")
