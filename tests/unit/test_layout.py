"""The project's shape, as DESIGN.md and README's "Layout" describe it, checked from the source.

The library ``m1`` sits at the bottom: it never imports the layers that run it (``actors/``, ``jobs/``,
``cli/``), nor Ray or vLLM when imported; its modules form no import cycle (function-level imports
included: a cycle hidden inside a function is still a cycle); no file grows past 600 lines; the top
of ``m1/`` stays a handful of modules beside its subpackages.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("m1", "actors", "jobs", "cli", "m1_lmms", "baselines")
MAX_LINES = 600
MAX_TOP_MODULES = 12


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(*packages: str) -> dict[str, Path]:
    return {_module_name(p): p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from m1.team import cpp` names a module
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {name: {m for m in _imports(path, name) if m in modules and m != name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package ``__init__`` that re-exports its submodules imports them, and they import their package
    on every ``from m1.x.y import ...`` (Python runs the parent first): that pair is no design cycle."""
    return {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in graph.items()}


def test_the_library_never_imports_the_layers_that_run_it():
    modules = _sources("m1")
    bad = {name: sorted(m for m in _imports(path, name) if m.split(".")[0] in LAYERS[1:])
           for name, path in modules.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"m1 imports actors/jobs/cli: {bad}"


def test_jobs_and_actors_do_not_import_the_cli():
    modules = _sources("actors", "jobs", "baselines")
    bad = {n: sorted(m for m in _imports(p, n) if m.split(".")[0] == "cli") for n, p in modules.items()}
    assert not {k: v for k, v in bad.items() if v}


def test_no_import_cycles_between_modules():
    modules = _sources(*LAYERS)
    cycles = _cycles(_without_package_inits(_graph(modules)))
    assert not cycles, f"import cycles (function-level imports included): {cycles}"


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    # the check above must be able to fail: a two-module cycle and a three-module one
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_relative_imports_are_seen(tmp_path):
    pkg = tmp_path / "p"
    pkg.mkdir()
    f = pkg / "mod.py"
    f.write_text("def f():\n    from m1.team import cpp\n    from . import sibling\n    import m1.video.io\n")
    found = _imports(f, "p.mod")
    assert {"m1.team.cpp", "p.sibling", "m1.video.io"} <= found


@pytest.mark.parametrize("package", ["m1", "actors", "jobs", "cli", "m1_lmms", "baselines", "tests", "benchmarks"])
def test_no_file_over_600_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by concern): {long}"


def test_the_top_of_m1_stays_small():
    top = sorted(p.name for p in (ROOT / "m1").iterdir()
                 if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file())
    modules = [t for t in top if t.endswith(".py")]
    assert len(modules) <= MAX_TOP_MODULES, f"{len(modules)} modules at the top of m1/ (a subpackage?): {modules}"


def test_importing_every_library_module_starts_neither_ray_nor_vllm():
    names = sorted(n for n in _sources("m1") if n != "m1")
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except ImportError as e:\n"  # an optional extra that is not installed (e.g. a GPU back-end)
        "        if (e.name or '').split('.')[0] in ('m1',):\n"
        "            raise\n"
        "print(sorted(m for m in ('ray', 'vllm') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
