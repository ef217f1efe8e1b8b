"""Load and failure drill for the Ray Serve app on loopback (results: benchmarks/serve_load.md).

    .venv/bin/python benchmarks/serve_load.py --clients 8 --seconds 40 serve.replicas=2 \\
        ray.policy_cpus=0.1 ray.tool_cpus=0.1

Starts jobs/serve.py on a private local Ray (untrained tiny team, a short synthetic video), runs
``--clients`` threads posting /v1/answer for ``--seconds`` (half of them name the video by path,
half upload it, so requests hold spool files), and prints throughput, p50/p99 latency and
outcomes. A second phase under the same load crashes (SIGKILL) one tool worker — one that a
replica which survives the drill drives — and then one replica. The drill then waits for Serve
to replace the replica, runs a third phase, and checks:

- every request ended (no hang): 200, or a 5xx with the JSON error body (``{"error": {...}}``);
  no connection errors;
- requests sent after the tool-worker kill, and after the replica kill (while Serve replaces it,
  and after), all got 200: only requests in flight on the killed replica may fail;
- the killed tool worker was restarted (the pool's actor is ALIVE again) and the killed replica
  was replaced (Serve shows ``serve.replicas`` RUNNING replicas);
- no leaks: the ALIVE actors per class are as before the drill, the actors the killed replica
  owned are DEAD and their processes gone, Ray's worker processes are as many as before, and
  the spool directory is empty.

Each check prints PASS/FAIL; the exit status is 1 if any check failed, 2 if a target to kill
was not found (a drill that did not happen must not pass).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import requests

TINY = [
    "synth.width=192",
    "synth.height=108",
    "synth.fps=5",
    "synth.min_duration=6",
    "synth.max_duration=8",
    "synth.min_scene_seconds=3",
    "synth.min_object_size=12",
    "synth.max_object_size=30",
]
REPLICA_CLASS = "ServeReplica:m1:m1"


class Req:
    __slots__ = ("t0", "t1", "key", "tools")

    def __init__(self, t0: float, t1: float, key: str, tools: int):
        self.t0, self.t1, self.key, self.tools = t0, t1, key, tools


def post(url: str, video: str, upload: bool) -> tuple[str, int]:
    """One question; the outcome key: ``200``, ``<status>:<error code>`` (JSON error body),
    ``<status>:text:<body>`` (anything else), or ``exception:<type>``; and the tool calls made."""
    try:
        if upload:
            with open(video, "rb") as f:
                r = requests.post(
                    f"{url}/v1/answer",
                    timeout=180,
                    files={"video": ("clip.mp4", f, "video/mp4")},
                    data=[("question", "Which colour?"), ("options", "red"), ("options", "blue")],
                )
        else:
            r = requests.post(
                f"{url}/v1/answer",
                timeout=180,
                json={"question": "Which colour?", "video_path": video, "options": ["red", "blue"]},
            )
    except requests.RequestException as e:
        return f"exception:{type(e).__name__}", 0
    if r.status_code == 200:
        return "200", int(r.json().get("tool_calls", 0))
    try:
        return f"{r.status_code}:{r.json()['error']['code']}", 0
    except (ValueError, KeyError, TypeError):
        return f"{r.status_code}:text:{r.text[:60]!r}", 0


def load(url: str, video: str, clients: int, seconds: float) -> list[Req]:
    out: list[Req] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        while time.monotonic() < stop:
            t0 = time.monotonic()
            key, tools = post(url, video, upload=i % 2 == 1)
            with lock:
                out.append(Req(t0, time.monotonic(), key, tools))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def report(name: str, reqs: list[Req], seconds: float) -> None:
    lat = [r.t1 - r.t0 for r in reqs if r.key == "200"]
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    print(
        f"{name}: {len(lat)} ok in {seconds:.0f} s = {len(lat) / seconds:.2f} req/s; p50 {q[49]:.2f} s, "
        f"p99 {q[98]:.2f} s; outcomes {dict(Counter(r.key for r in reqs))}; tool calls {sum(r.tools for r in reqs)}; "
        f"load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )


# ------------------------------------------------------------------ what runs on our Ray


def actors() -> list[dict[str, Any]]:
    """The GCS actor table (works without the dashboard, unlike ray.util.state)."""
    import ray

    return list(ray._private.state.actors().values())


def alive_by_class() -> Counter[str]:
    return Counter(a["ActorClassName"] for a in actors() if a["State"] == "ALIVE")


def raylet() -> psutil.Process:
    import ray

    return psutil.Process(ray._private.worker._global_node.all_processes["raylet"][0].process.pid)


def worker_processes() -> Counter[str]:
    """Ray worker processes of this (private) Ray by title, idle pool workers left out."""
    titles: Counter[str] = Counter()
    for p in raylet().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            title = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if title.startswith("ray::") and not title.startswith("ray::IDLE"):
            titles[title.split()[0].split(".")[0]] += 1
    return titles


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def replica_states() -> dict[str, int]:
    from ray import serve

    app = serve.status().applications.get("m1")
    if app is None or "m1" not in app.deployments:
        return {}
    return {str(getattr(k, "value", k)): v for k, v in app.deployments["m1"].replica_states.items()}


class App:
    """A private serve app for a drill: its folder, spool, test video, config and URL."""

    def __init__(self, overrides: list[str], prefix: str):
        import tempfile

        import jobs.serve as js
        from m1.config import load_config
        from m1.synth import generate_split

        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.spool = self.root / "spool"
        generate_split(load_config(overrides=TINY).synth, self.root / "data", "test", 1, seed=2, progress=False)
        self.video = str(next((self.root / "data" / "test" / "videos").glob("*.mp4")))
        self.cfg = load_config(overrides=[
            *TINY, f"output_dir={self.root / 'run'}", "ray.num_cpus=2", "ray.tool_workers=1", "cpp.max_rounds=1",
            f"serve.allowed_roots=[{self.root / 'data'}]", f"serve.spool_dir={self.spool}",
            f"serve.port={free_port()}", *overrides])
        self.replicas = self.cfg.serve.replicas
        print(f"date {time.strftime('%Y-%m-%d %H:%M:%S')}; load avg {os.getloadavg()}; argv {sys.argv[1:]}",
              flush=True)
        t0 = time.monotonic()
        self.url = js.start(self.cfg)
        print(f"started {self.replicas} replica(s) in {time.monotonic() - t0:.1f} s", flush=True)
        for upload in (False, True):
            print(f"warm-up ({'upload' if upload else 'path'}): {post(self.url, self.video, upload)}", flush=True)


    def stop_trace_store(self) -> None:
        import jobs.serve as js

        js._stop_trace_store(self.cfg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the drill


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=40, help="length of the steady and the kill phase")
    ap.add_argument("--after-seconds", type=float, default=20, help="length of the phase after recovery")
    ap.add_argument("--recovery-timeout", type=float, default=300)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    import ray
    from ray import serve

    app = App(a.overrides, "m1-serve-bench-")
    root, spool, video, url, replicas = app.root, app.spool, app.video, app.url, app.replicas
    base_actors, base_procs = alive_by_class(), worker_processes()
    print(f"before: ALIVE actors {dict(base_actors)}; worker processes {dict(base_procs)}", flush=True)

    steady = load(url, video, a.clients, a.seconds)
    report(f"steady load, {a.clients} clients", steady, a.seconds)

    checks: list[tuple[str, bool, str]] = []
    missing: list[str] = []
    events: dict[str, Any] = {}

    def killer(start: float) -> None:
        table = actors()
        reps = [x for x in table if x["ActorClassName"] == REPLICA_CLASS and x["State"] == "ALIVE"]
        if not reps:
            missing.append(f"no ALIVE {REPLICA_CLASS} actor")
            return
        victim = reps[0]  # the replica to kill; the tool worker killed first belongs to another one if any
        owner = (victim["Address"]["IPAddress"], victim["Address"]["Port"])
        owned = [x for x in table if (x["OwnerAddress"]["IPAddress"], x["OwnerAddress"]["Port"]) == owner]
        tools = [x for x in table if x["ActorClassName"] == "ServeToolWorker" and x["State"] == "ALIVE"]
        other = [x for x in tools if x not in owned] or tools
        time.sleep(max(0.0, start + a.seconds / 4 - time.monotonic()))
        if not other:
            missing.append("no ALIVE ServeToolWorker actor")
        else:
            w = other[0]
            os.kill(w["Pid"], signal.SIGKILL)
            events["tool"] = {"t": time.monotonic(), "pid": w["Pid"], "id": w["ActorID"], "restarts": w["NumRestarts"]}
            print(
                f"[{time.monotonic() - start:5.1f} s] SIGKILL tool worker {w['ActorID'][:8]} pid {w['Pid']}", flush=True
            )
        time.sleep(max(0.0, start + a.seconds / 2 - time.monotonic()))
        os.kill(victim["Pid"], signal.SIGKILL)
        events["replica"] = {
            "t": time.monotonic(),
            "pid": victim["Pid"],
            "id": victim["ActorID"],
            "name": victim["Name"],
            "owned": owned,
        }
        print(
            f"[{time.monotonic() - start:5.1f} s] SIGKILL replica {victim['Name']} pid {victim['Pid']} "
            f"(owns {dict(Counter(x['ActorClassName'] for x in owned))})",
            flush=True,
        )

    start = time.monotonic()
    k = threading.Thread(target=killer, args=(start,))
    k.start()
    under = load(url, video, a.clients, a.seconds)
    k.join()
    report("under kills", under, a.seconds)
    if missing or "replica" not in events:
        print(f"DRILL DID NOT HAPPEN: {missing}", flush=True)
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
        return 2

    # recovery: Serve replaces the replica; the pool's tool worker is restarted by Ray
    t_rep, recovered = events["replica"]["t"], None
    while time.monotonic() - t_rep < a.recovery_timeout:
        if replica_states() == {"RUNNING": replicas} and alive_by_class() == base_actors:
            recovered = time.monotonic() - t_rep
            break
        time.sleep(1.0)
    tool = next((x for x in actors() if x["ActorID"] == events["tool"]["id"]), None)
    print(
        f"replica replaced and actors back {recovered if recovered is None else round(recovered, 1)} s after the "
        f"replica kill; replica states {replica_states()}; killed tool worker now "
        f"{tool and (tool['State'], 'restarts', tool['NumRestarts'], 'pid', tool['Pid'])}",
        flush=True,
    )
    after = load(url, video, a.clients, a.after_seconds)
    report("after recovery", after, a.after_seconds)

    # ---- checks
    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))

    drill = under + after
    t_tool = events["tool"]["t"]
    for label, tk in (("tool worker", t_tool), ("replica", t_rep)):
        inflight = [r for r in under if r.t0 < tk < r.t1]
        lat = sorted(round(r.t1 - r.t0, 1) for r in inflight)
        print(
            f"in flight at the {label} kill: {dict(Counter(r.key for r in inflight))}; their latencies {lat} s",
            flush=True,
        )
        first = min((r.t1 for r in drill if r.t0 > tk and r.key == "200"), default=None)
        print(
            f"first success of a request sent after the {label} kill: "
            f"{'none' if first is None else f'{first - tk:.1f} s after the kill'}",
            flush=True,
        )
    errors = [r for r in steady + drill if r.key != "200"]
    print(
        f"non-200 outcomes: {dict(Counter(r.key for r in errors))}; their latencies "
        f"{sorted(round(r.t1 - r.t0, 1) for r in errors)} s",
        flush=True,
    )
    bad = [r.key for r in steady + drill if r.key != "200" and not (r.key[:1] == "5" and ":text:" not in r.key)]
    check("every request ended with 200 or a 5xx JSON error (no hang, no reset)", not bad, str(Counter(bad)))
    t_ok = t_rep + (recovered if recovered is not None else a.recovery_timeout)
    late = [r.key for r in drill if r.t0 > t_ok and r.key != "200"]
    check("requests started after the replica was replaced all succeeded", not late and bool(after), str(Counter(late)))
    meanwhile = [r.key for r in under if t_rep < r.t0 < t_ok and r.key != "200"]
    check(
        "requests started while Serve replaced the replica succeeded (on the other replicas)",
        not meanwhile,
        str(Counter(meanwhile)),
    )
    between = [r.key for r in under if t_tool < r.t0 and r.t1 < t_rep and r.key != "200"]
    check("requests between the tool-worker kill and the replica kill succeeded", not between, str(Counter(between)))
    check(
        "killed tool worker restarted by Ray",
        bool(
            tool
            and tool["State"] == "ALIVE"
            and tool["NumRestarts"] > events["tool"]["restarts"]
            and not running(events["tool"]["pid"])
        ),
        str(tool and tool["State"]),
    )
    check(f"Serve replaced the replica ({replicas} RUNNING)", recovered is not None, str(replica_states()))
    now_actors = alive_by_class()
    check(
        "ALIVE actors per class as before",
        now_actors == base_actors,
        f"before {dict(base_actors)}, after {dict(now_actors)}",
    )
    owned = [next((x for x in actors() if x["ActorID"] == o["ActorID"]), o) for o in events["replica"]["owned"]]
    lingering = [
        (o["ActorClassName"], o["State"], o["Pid"]) for o in owned if o["State"] != "DEAD" or running(o["Pid"])
    ]
    check(
        f"the killed replica's {len(owned)} actors are DEAD and their processes gone",
        not lingering and bool(owned) and not running(events["replica"]["pid"]),
        str(lingering),
    )
    procs = worker_processes()
    check("Ray worker processes as before", procs == base_procs, f"before {dict(base_procs)}, after {dict(procs)}")
    left: list[Path] = []
    for _ in range(30):  # a request's files go when its handler returns; the replacement sweeps the dead one's
        left = list(spool.iterdir()) if spool.exists() else []
        if not left:
            break
        time.sleep(1.0)
    check("spool directory empty", not left, str([p.name for p in left]))
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + (f" ({detail})" if detail and not ok else ""), flush=True)
    serve.shutdown()
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)  # the video, the untrained team, the spool
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
