"""Serve the team over HTTP with Ray Serve: ``python jobs/serve.py [--config YAML] [key=value ...]``.

The app is :func:`m1.serving.app.create_app` as a Ray Serve FastAPI ingress; each of the
``serve.replicas`` replicas holds its own back-ends (``actors/serve.py``: policy agents, tool
pool and memory as in training, or in-process models with ``serve.use_ray_backends=false``), and
all replicas share one trace store. A replica whose actors died for good fails Serve's health
check and is replaced (``actors/serve.py``). Starts a local Ray unless ``ray.address`` / ``RAY_ADDRESS``
names a cluster. With the Serve CLI: ``serve run jobs.serve:app_builder overrides='serve.replicas=2'``.
The team directory must be readable by every replica (a shared file system on a cluster).
On a cluster (or with ``serve run``), set ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=
m1.serving.proxy:middlewares`` on every node so that requests a dying replica never answers get
a JSON 503 (``m1/serving/proxy.py``); ``start`` sets it for the local Ray it starts.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ray import serve

from m1.config import M1Config, load_config


# a replica whose actors died is found within a health-check period and replaced
@serve.deployment(name="m1", health_check_period_s=5.0, health_check_timeout_s=30.0)
@serve.ingress()
class M1Server:
    """One replica: builds its back-ends, then serves the FastAPI app over them."""

    def __init__(self, cfg_json: str, team_dir: str, store_actor: Any):
        from actors.serve import build_ray_service

        self.service = build_ray_service(M1Config.model_validate_json(cfg_json), team_dir, store_actor)

    def __serve_build_asgi_app__(self) -> Any:
        from m1.serving.app import create_app

        return create_app(self.service)

    def check_health(self) -> None:
        """Serve's periodic health check: raising makes Serve replace this replica (and so its
        actors), e.g. after its shared memory or a policy agent died for good (actors/serve.py)."""
        if dead := self.service.unhealthy():
            raise RuntimeError(f"back-end actors died: {', '.join(dead)}")


def build_app(cfg: M1Config) -> Any:
    """The Serve application for ``cfg`` (starts the shared trace store; needs Ray initialised)."""
    from actors.serve import make_trace_store
    from m1.models import ensure_team

    team_dir = ensure_team(cfg, cfg.serve.team_dir)
    s = cfg.serve
    if s.use_ray_backends:
        from actors import check_fits
        from actors.rollout import actor_requests

        # every replica starts its own agents and tool workers: refuse a deployment that cannot
        # fit instead of leaving replicas waiting for CPUs until their start times out
        need = {f"{k} x serve.replicas={s.replicas}": (c * s.replicas, g * s.replicas)
                for k, (c, g) in actor_requests(cfg).items()}
        check_fits(need | {"serve.replica_cpus x replicas": (s.replica_cpus * s.replicas, 0.0)})
    return M1Server.options(num_replicas=s.replicas, max_ongoing_requests=s.max_ongoing_requests,
                            ray_actor_options={"num_cpus": s.replica_cpus}).bind(
        cfg.model_dump_json(), str(Path(team_dir).resolve()), make_trace_store(s.max_traces, cfg.ray.namespace))


def app_builder(args: dict[str, str]) -> Any:
    """For ``serve run jobs.serve:app_builder config=FILE overrides='a=1 b=2'``."""
    from actors import init_ray

    cfg = load_config(args.get("config"), (args.get("overrides") or "").split())
    init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    return build_app(cfg)


def start(cfg: M1Config, blocking: bool = False) -> str:
    """Deploy on the configured Ray (started if needed); returns the base URL once it answers."""
    from actors import init_ray
    from m1.serving import proxy

    # Serve's proxies read it when they start (they inherit a local Ray's environment): answers
    # that a dying replica never sends become JSON 503s instead of a bare 500 (m1/serving/proxy.py)
    os.environ.setdefault(proxy.ENV, proxy.CALLBACK)
    init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port})
    serve.run(build_app(cfg), name="m1", route_prefix="/", blocking=blocking)
    return f"http://{cfg.serve.host}:{cfg.serve.port}"


def main(cfg: M1Config) -> None:
    url = start(cfg)
    print(f"videochat-m1 serving at {url} ({cfg.serve.replicas} replica(s)); demo at {url}/, "
          f"OpenAPI at {url}/docs; Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
        _stop_trace_store(cfg)


def _stop_trace_store(cfg: M1Config) -> None:
    """The trace store is detached (it outlives any one replica): stop it with the deployment."""
    import ray

    from actors.serve import TRACE_STORE

    try:
        ray.kill(ray.get_actor(TRACE_STORE, namespace=cfg.ray.namespace))
    except ValueError:  # not there
        pass


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from jobs import run_cli

    # expected failures (a deployment that cannot fit, actors that do not start) end in one line
    sys.exit(run_cli(main, __doc__))
