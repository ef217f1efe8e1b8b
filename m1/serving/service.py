"""The team behind the API: runs one CPP episode per request and keeps its trace.

:class:`TeamService` holds the back-ends (``LocalTeam``/``ToolRunner``/``SharedMemory`` in
process, or the PolicyAgent/ToolWorker/SharedMemory actors of training — see
``actors/serve.py``) and answers a :class:`~m1.schema.Question` sampling with ``sampling.eval`` (greedy by
default: the same question gets the same answer). Each episode runs through thin
observers of the team and memory back-ends (:class:`ObservedTeam`, :class:`ObservedMemory`)
that report progress events as they happen — the stream the demo and SSE clients watch — and
collect the frame times tool payloads carry (payloads do not survive into the trace: memory
keeps only references, and the episode closes them). After the episode a few of those frames
are decoded as small JPEG thumbnails and kept beside the trace in a :class:`TraceStore`, so the
demo can show them after the request's video file is gone.

Events (dicts): ``{"kind": "plan"|"revision"|"answer", "agent", "name", "text"}``,
``{"kind": "step", "agent", "name", "step", "entry", "tool", "args", "text", "candidate",
"error", "frames", "times"}``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from m1.config import M1Config
from m1.engines.base import Completion
from m1.schema import Question, TaskType, ToolResult
from m1.serving.types import AgentSummary, AnswerResponse, Keyframe, TraceRecord
from m1.team.cpp import GenRequest, LocalTeam, ToolRunner, run_episode
from m1.team.memory import MemoryEntry, SharedMemory
from m1.team.rollout import Backends
from m1.team.topology import Topology, complete_topology
from m1.team.trace import Episode

Emit = Callable[[dict[str, Any]], None]


def _noop(_: dict[str, Any]) -> None:
    pass


def frame_times(payload: dict[str, Any]) -> list[float]:
    """Times of the frames a tool result describes (``frames[*].t`` and ``frame.t`` in payloads)."""
    out = [f["t"] for f in payload.get("frames", []) if isinstance(f, dict) and isinstance(f.get("t"), int | float)]
    one = payload.get("frame")
    if isinstance(one, dict) and isinstance(one.get("t"), int | float):
        out.append(one["t"])
    return [float(t) for t in out]


class ObservedTeam:
    """A :class:`m1.team.cpp.TeamBackend` that reports each generation as it completes."""

    def __init__(self, team: Any, emit: Emit):
        self.team, self.emit, self.names = team, emit, team.names

    def counter(self, agent: int) -> Any:
        return self.team.counter(agent)

    def limits(self, agent: int, max_new_tokens: int, entry_tokens: int) -> Any:
        return self.team.limits(agent, max_new_tokens, entry_tokens)

    def generate(self, requests: Sequence[GenRequest]) -> list[Completion]:
        outs = self.team.generate(requests)
        for r, c in zip(requests, outs, strict=True):
            self.emit({"kind": r.phase.value, "agent": r.agent, "name": self.names[r.agent],
                       "text": c.text.strip()[:400]})
        return outs

    def update_weights(self, agent: int, state: dict[str, Any]) -> None:
        raise RuntimeError("a served team does not change weights")


class ObservedMemory:
    """A :class:`m1.team.cpp.MemoryBackend` that reports each appended tool result and its frame times."""

    def __init__(self, memory: Any, emit: Emit, names: Sequence[str]):
        self.memory, self.emit, self.names = memory, emit, list(names)
        self.keyframes: list[Keyframe] = []

    def open(self, episode_id: str, topology: Topology) -> None:
        self.memory.open(episode_id, topology)

    def append(self, episode_id: str, agent: int, step: int, result: ToolResult) -> MemoryEntry:
        entry = self.memory.append(episode_id, agent, step, result)
        times = frame_times(result.payload)
        self.keyframes += [Keyframe(t=t, entry=entry.id, agent=agent, tool=result.tool) for t in times]
        self.emit({"kind": "step", "agent": agent, "name": self.names[agent], "step": step, "entry": entry.id,
                   "tool": result.tool, "args": result.args, "text": result.text[:400], "candidate": result.candidate,
                   "error": result.error, "frames": entry.frames, "times": times})
        return entry

    def read(self, episode_id: str, reader: int, after: int = -1, everything: bool = False) -> list[MemoryEntry]:
        return self.memory.read(episode_id, reader, after, everything)

    def close(self, episode_id: str) -> list[MemoryEntry]:
        return self.memory.close(episode_id)


class ServingToolRunner(ToolRunner):
    """:class:`ToolRunner` that also closes a request's video when its episode ends: request videos
    are deleted after the request, and an open reader would keep the deleted file's space."""

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        super().__init__(tools_cfg, video_cfg)
        self._videos: dict[str, str] = {}

    def run(self, episode_id: str, question: Question, calls: Sequence[Any]) -> list[ToolResult]:
        self._videos[episode_id] = question.video
        return super().run(episode_id, question, calls)

    def end(self, episode_id: str) -> None:
        super().end(episode_id)
        video = self._videos.pop(episode_id, None)
        if video and video not in self._videos.values():
            self.store.evict(video)


class TraceStore:
    """Finished traces (JSON) and their thumbnails (JPEG bytes), oldest dropped beyond ``max_traces``.
    Also the body of the replicas' shared ``TraceStoreActor`` (``actors/serve.py``)."""

    def __init__(self, max_traces: int = 256):
        self.max_traces = max_traces
        self._items: OrderedDict[str, tuple[str, list[bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, trace_id: str, record_json: str, thumbnails: list[bytes]) -> None:
        with self._lock:
            self._items[trace_id] = (record_json, thumbnails)
            while len(self._items) > self.max_traces:
                self._items.popitem(last=False)

    def get(self, trace_id: str) -> str | None:
        with self._lock:
            item = self._items.get(trace_id)
        return item[0] if item else None

    def thumbnail(self, trace_id: str, index: int) -> bytes | None:
        with self._lock:
            item = self._items.get(trace_id)
        if item is None or not (0 <= index < len(item[1])):
            return None
        return item[1][index]

    def count(self) -> int:
        with self._lock:
            return len(self._items)


def thumbnails(path: Path, keyframes: list[Keyframe], limit: int, side: int, video_cfg: Any) -> list[bytes]:
    """JPEGs of the first ``limit`` distinct keyframe times (in the order tools looked at them);
    sets ``Keyframe.thumbnail``. A frame that fails to decode is simply not shown."""
    import cv2

    from m1.video import VideoError, VideoReader

    distinct: list[float] = []
    for k in keyframes:
        if k.t not in distinct and len(distinct) < limit:
            distinct.append(k.t)
    if not distinct:
        return []
    try:
        with VideoReader(path, video_cfg) as v:
            frames = v.frames_at(distinct, max_side=side)
    except (VideoError, ValueError):
        return []
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        out.append(buf.tobytes() if ok else b"")
    index = {t: i for i, t in enumerate(distinct)}
    for k in keyframes:
        k.thumbnail = index.get(k.t)
    return out


def summarise(trace_id: str, ep: Episode, video_seconds: float) -> AnswerResponse:
    answer_text = None
    q = ep.question
    if q.task_type == TaskType.MULTIPLE_CHOICE and ep.final_answer:
        idx = ord(ep.final_answer[0]) - ord("A")
        answer_text = q.options[idx] if 0 <= idx < len(q.options) else None
    agents = [AgentSummary(agent=a.agent, name=a.name, plans=a.plans, answer=a.answer,
                           steps=[f"{s.call.tool} {s.call.args}" + (" (cached)" if s.cached else "") for s in a.steps])
              for a in ep.agents]
    return AnswerResponse(trace_id=trace_id, answer=ep.final_answer, answer_text=answer_text,
                          aggregation=ep.aggregation, votes=ep.votes, agents=agents, frames_used=ep.frames_used,
                          tool_calls=ep.tool_calls, seconds=round(ep.wall_seconds, 4), video_seconds=video_seconds)


class TeamService:
    """Answers questions with one team (see the module docstring). Thread-safe."""

    def __init__(self, cfg: M1Config, backends: Any, store: Any, catalogue: Sequence[Any] | None = None):
        self.cfg, self.b, self.store = cfg, backends, store
        self.catalogue = list(catalogue) if catalogue is not None else backends.tool_catalogue()
        self.cpp, self.sampling = cfg.cpp, cfg.sampling.eval
        # in-process engines and tool contexts are not thread-safe: one episode at a time there
        self._lock = threading.Lock() if not backends.on_ray else None

    @property
    def names(self) -> list[str]:
        return list(self.b.team.names)

    @property
    def on_ray(self) -> bool:
        return bool(self.b.on_ray)

    def answer(self, question: Question, video_name: str, video_seconds: float,
               emit: Emit | None = None) -> tuple[AnswerResponse, TraceRecord]:
        emit = emit or _noop
        trace_id = uuid.uuid4().hex[:16]
        team = ObservedTeam(self.b.team, emit)
        memory = ObservedMemory(self.b.memory, emit, self.names)
        q = question.model_copy(update={"qid": trace_id})
        emit({"kind": "start", "trace_id": trace_id, "team": self.names})
        if self._lock is not None:
            with self._lock:
                ep = self._episode(q, team, memory, trace_id)
        else:
            ep = self._episode(q, team, memory, trace_id)
        serve = self.cfg.serve
        thumbs = thumbnails(Path(question.video), memory.keyframes, serve.thumbnails, serve.thumbnail_side,
                            self.cfg.video) if serve.thumbnails else []
        # the trace must not name the server's spool path
        ep = ep.model_copy(update={"question": ep.question.model_copy(update={"video": video_name})})
        record = TraceRecord(trace_id=trace_id, created=time.time(), video_name=video_name,
                             video_seconds=video_seconds, episode=ep, keyframes=memory.keyframes)
        self.store.put(trace_id, record.model_dump_json(), thumbs)
        return summarise(trace_id, ep, video_seconds), record

    def _episode(self, q: Question, team: ObservedTeam, memory: ObservedMemory, trace_id: str) -> Episode:
        return run_episode(q, team, self.b.tools, complete_topology(len(self.names)), self.catalogue, self.cpp,
                           self.sampling, seed=int(q.meta.get("seed", 0)), episode_id=trace_id, memory=memory)

    # set by the Ray wiring (actors/serve.py): the names of back-end actors that are dead for good
    dead_backends: Callable[[], list[str]] | None = None

    def unhealthy(self) -> list[str]:
        """What keeps this service from answering (dead back-end actors); empty when healthy.
        ``GET /healthz`` answers 503 and a Serve replica fails its health check while it is not."""
        return self.dead_backends() if self.dead_backends is not None else []


def build_local_service(cfg: M1Config, team_dir: str | Path) -> TeamService:
    """In-process back-ends (tests, ``m1 serve --local``); the team's stored summariser applies."""
    from m1.models import team_catalogue, with_team_summariser

    cfg = with_team_summariser(cfg, team_dir)

    team = LocalTeam.from_dir(str(team_dir), cfg.team, engine_cfg=cfg.engine)
    backends = Backends(team, ServingToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False,
                        catalogue=team_catalogue(team_dir))
    return TeamService(cfg, backends, TraceStore(cfg.serve.max_traces))
