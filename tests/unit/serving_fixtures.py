"""Helpers for the serving tests: the app on loopback with uvicorn in a thread, a scripted team."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import ScriptedTeam, fixed  # noqa: E402

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


def planning_team(delay: float = 0.0) -> ScriptedTeam:
    """A scripted team whose plans call real tools on the real video (the tools, memory, traces and
    thumbnails under test are real; only the policies' text is fixed)."""

    def slow(f):
        return lambda p: (time.sleep(delay), f(p))[1] if delay else f(p)

    return ScriptedTeam([slow(fixed('1. global_sampling {"n":4}', "B")), slow(fixed('1. spatial {"t":2}', "B")),
                         slow(fixed('1. rough_browser {"fps":0.5}', "A"))])


def make_service(team, overrides: list[str]):
    from m1.config import load_config
    from m1.serving.service import ServingToolRunner, TeamService, TraceStore
    from m1.team.memory import SharedMemory
    from m1.team.rollout import Backends

    cfg = load_config(overrides=TINY + overrides)
    return TeamService(cfg, Backends(team, ServingToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False),
                       TraceStore(cfg.serve.max_traces))


@contextmanager
def serving(service):
    """Yields the base URL of ``create_app(service)`` served by uvicorn on 127.0.0.1 (any free port)."""
    import uvicorn

    from m1.serving.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not th.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(10)
