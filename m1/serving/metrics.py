"""Request metrics in the Prometheus text exposition format (``GET /metrics``).

Kept by hand rather than with ``prometheus_client`` so each app instance owns its numbers (tests
start several apps in one process) and the output is exactly what the tests assert. Per
replica: with several Ray Serve replicas each answers for itself (Ray's own metrics endpoint
aggregates cluster-wide).
"""

from __future__ import annotations

import threading
from collections import defaultdict

# latency buckets (seconds) span a cached health check to a long episode on CPU
LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
FRAME_BUCKETS = (0, 8, 16, 32, 64, 128, 256, 512)


def endpoint_of(path: str) -> str:
    """The metrics label of a request path (bounded: ids never become labels)."""
    for p in ("/v1/answer", "/v1/chat/completions", "/v1/traces", "/v1/samples", "/healthz", "/metrics"):
        if path == p or path.startswith(p + "/"):
            return p
    return "demo" if path == "/" or path.startswith("/static/") else "other"


class Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total, self.n = 0.0, 0

    def observe(self, v: float) -> None:
        self.n += 1
        self.total += v
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts, strict=True)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        lab = f"{{{labels}}}" if labels else ""
        return out + [f"{name}_sum{lab} {self.total:.6f}", f"{name}_count{lab} {self.n}"]


class Metrics:
    """Counters by (endpoint, status), latency per endpoint, frames and seconds per answered query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.frames = Histogram(FRAME_BUCKETS)
        self.episode_seconds = Histogram(LATENCY_BUCKETS)
        self.in_flight = 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def error(self, endpoint: str, code: str) -> None:
        with self._lock:
            self.errors[(endpoint, code)] += 1

    def episode(self, frames: int, seconds: float) -> None:
        with self._lock:
            self.frames.observe(frames)
            self.episode_seconds.observe(seconds)

    def render(self) -> str:
        with self._lock:
            out = ["# HELP m1_requests_total HTTP requests by endpoint and status.", "# TYPE m1_requests_total counter"]
            out += [f'm1_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                    for (e, s), n in sorted(self.requests.items())]
            out += ["# HELP m1_errors_total Refused or failed requests by endpoint and error code.",
                    "# TYPE m1_errors_total counter"]
            out += [f'm1_errors_total{{endpoint="{e}",code="{c}"}} {n}' for (e, c), n in sorted(self.errors.items())]
            out += ["# HELP m1_request_seconds Request latency.", "# TYPE m1_request_seconds histogram"]
            for e, h in sorted(self.latency.items()):
                out += h.lines("m1_request_seconds", f'endpoint="{e}"')
            out += ["# HELP m1_frames_per_query Frames decoded per answered question.",
                    "# TYPE m1_frames_per_query histogram", *self.frames.lines("m1_frames_per_query"),
                    "# HELP m1_episode_seconds Wall time of answered questions.",
                    "# TYPE m1_episode_seconds histogram", *self.episode_seconds.lines("m1_episode_seconds"),
                    "# HELP m1_in_flight Requests being answered now.", "# TYPE m1_in_flight gauge",
                    f"m1_in_flight {self.in_flight}"]
            return "\n".join(out) + "\n"
