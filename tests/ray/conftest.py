"""The Ray Serve deployment shared by the serving tests (test_serve_ray.py, test_serve_recovery.py):
a private local Ray, the untrained tiny team, one synthetic video under an allowed root, API key
``sesame``. Each module gets its own deployment (module scope: the tests there kill its actors) and
may add config overrides with a module-level ``SERVE_OVERRIDES`` list."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from m1.config import load_config

SERVE_TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
              "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
SERVE_KEY = {"Authorization": "Bearer sesame"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """``(base URL, video path, config)`` of a running deployment; shut down after the module."""
    import ray
    from ray import serve

    import jobs.serve as js
    from m1.synth import generate_split

    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    generate_split(load_config(overrides=SERVE_TINY).synth, root / "data", "test", 1, seed=2, progress=False)
    video = next((root / "data" / "test" / "videos").glob("*.mp4"))
    cfg = load_config(overrides=SERVE_TINY + [
        f"output_dir={root / 'run'}", "ray.num_cpus=2", "ray.tool_workers=1", "cpp.max_rounds=1",
        f"serve.port={_free_port()}", f"serve.allowed_roots=[{root / 'data'}]", "serve.api_key=sesame",
        f"serve.spool_dir={root / 'spool'}", *getattr(request.module, "SERVE_OVERRIDES", [])])
    # Serve's proxies take the JSON-503 middleware from the environment of the Ray they start in
    # (jobs.serve.start sets it before starting one); a Ray left running by an earlier test in
    # this process was started without it
    if ray.is_initialized():
        ray.shutdown()
    url = js.start(cfg)
    yield url, video, cfg
    serve.shutdown()
    ray.shutdown()


def alive_actors(cls: str) -> list[dict[str, Any]]:
    """The ALIVE actors of class ``cls`` in the GCS actor table (works without the dashboard)."""
    import ray

    return [a for a in ray._private.state.actors().values() if a["ActorClassName"] == cls and a["State"] == "ALIVE"]


@pytest.fixture
def alive():
    """:func:`alive_actors` (a fixture: test modules do not import conftest)."""
    return alive_actors
