"""Load and failure drill for the Ray Serve app on loopback (results: benchmarks/serve_load.md).

    .venv/bin/python benchmarks/serve_load.py --clients 16 --seconds 30 serve.replicas=2

Starts jobs/serve.py on a local Ray (untrained tiny team, a short synthetic video named by
path), runs ``--clients`` threads posting /v1/answer for ``--seconds``, and prints throughput,
p50/p99 latency and errors. Then a second phase under the same load kills one replica and one
tool worker, and reports what in-flight requests got (success or 5xx, never a hang or a reset
without status), whether requests after the kill succeed, and whether the spool dir is empty.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import requests

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


def load(url: str, video: str, clients: int, seconds: float) -> tuple[list[float], dict[str, int]]:
    lat: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                r = requests.post(f"{url}/v1/answer", timeout=120,
                                  json={"question": "Which colour?", "video_path": video, "options": ["red", "blue"]})
                key = str(r.status_code)
            except requests.RequestException as e:
                key = f"exception:{type(e).__name__}"
            with lock:
                outcomes[key] = outcomes.get(key, 0) + 1
                if key == "200":
                    lat.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, outcomes


def report(name: str, lat: list[float], outcomes: dict[str, int], seconds: float) -> None:
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    print(f"{name}: {len(lat)} ok in {seconds:.0f} s = {len(lat) / seconds:.2f} req/s; p50 {q[49]:.2f} s, "
          f"p99 {q[98]:.2f} s; outcomes {outcomes}; load avg {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    import tempfile

    import ray
    from ray import serve

    import jobs.serve as js
    from m1.config import load_config
    from m1.synth import generate_split

    root = Path(tempfile.mkdtemp(prefix="m1-serve-bench-"))
    generate_split(load_config(overrides=TINY).synth, root / "data", "test", 1, seed=2, progress=False)
    video = str(next((root / "data" / "test" / "videos").glob("*.mp4")))
    cfg = load_config(overrides=TINY + [f"output_dir={root / 'run'}", "ray.num_cpus=2", "ray.tool_workers=1",
                                        "cpp.max_rounds=1", f"serve.allowed_roots=[{root / 'data'}]",
                                        f"serve.spool_dir={root / 'spool'}", "serve.port=8123", *a.overrides])
    t0 = time.monotonic()
    url = js.start(cfg)
    print(f"started {cfg.serve.replicas} replica(s) in {time.monotonic() - t0:.1f} s", flush=True)
    requests.post(f"{url}/v1/answer", json={"question": "warm", "video_path": video}, timeout=120)
    lat, out = load(url, video, a.clients, a.seconds)
    report(f"steady load, {a.clients} clients", lat, out, a.seconds)

    def killer() -> None:
        # Without the dashboard (init_ray starts Ray without it) the state API is unavailable: find the
        # replica among the named actors and the tool worker by its process title ("ray::ServeToolWorker...").
        import psutil

        time.sleep(a.seconds / 3)
        named = ray.util.list_named_actors(all_namespaces=True)
        replica = next(x for x in named if "SERVE_REPLICA" in x["name"] and "m1" in x["name"])
        ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]), no_restart=True)
        print(f"killed replica {replica['name']}", flush=True)
        worker = next((p for p in psutil.process_iter(["cmdline"])
                       if "ray::ServeToolWorker" in " ".join(p.info["cmdline"] or [])), None)
        if worker is not None:
            os.kill(worker.pid, 9)
            print(f"killed tool worker pid {worker.pid}", flush=True)

    k = threading.Thread(target=killer)
    k.start()
    lat, out = load(url, video, a.clients, a.seconds)
    k.join()
    report("under kills", lat, out, a.seconds)
    lat, out = load(url, video, a.clients, 10)
    report("after kills", lat, out, 10)
    leftovers = list((root / "spool").iterdir()) if (root / "spool").exists() else []
    print(f"spool leftovers: {leftovers}", flush=True)
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
