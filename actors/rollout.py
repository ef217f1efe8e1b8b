"""The rollout driver: many CPP episodes at once, in-process or on Ray.

:func:`build_backends` wires a team, tools and memory either in-process (``LocalTeam``,
``ToolRunner``, ``SharedMemory``) or as Ray actors (``RayTeam``, ``RayToolPool``,
``SharedMemoryActor``); :class:`RolloutDriver` runs episodes concurrently through them. The
per-episode seeds fix every sampling decision, so the traces are identical either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m1.config import M1Config
from m1.cpp import LocalTeam, MemoryBackend, TeamBackend, ToolBackend, ToolRunner, run_episode
from m1.memory import SharedMemory
from m1.schema import Question, ToolSpec
from m1.topology import Topology
from m1.trace import Episode


@dataclass
class Backends:
    team: TeamBackend
    tools: ToolBackend
    memory: MemoryBackend
    on_ray: bool


def build_backends(cfg: M1Config, team_dir: str | Path, use_ray: bool) -> Backends:
    if not use_ray:
        return Backends(LocalTeam.from_dir(str(team_dir), cfg.team, dtype=cfg.engine.dtype),
                        ToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False)
    from actors import init_ray
    from actors.memory import RayMemory, make_memory_actor
    from actors.policy import RayTeam
    from actors.tools import RayToolPool

    init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    team = RayTeam(team_dir, cfg.team, cfg.ray, cfg.engine, timeout=cfg.cpp.generate_timeout)
    tools = RayToolPool(cfg.tools, cfg.video, cfg.ray, cfg.cpp.tool_timeout, cfg.cpp.tool_retries)
    return Backends(team, tools, RayMemory(make_memory_actor()), on_ray=True)


@dataclass(frozen=True)
class EpisodeJob:
    question: Question
    topology: Topology
    seed: int


class RolloutDriver:
    """Runs episodes ``concurrency`` at a time (threads waiting on actors, or in turn in-process)."""

    def __init__(self, backends: Backends, catalogue: Sequence[ToolSpec], cfg: M1Config):
        self.b, self.catalogue, self.cfg = backends, list(catalogue), cfg

    def run_one(self, job: EpisodeJob) -> Episode:
        return run_episode(job.question, self.b.team, self.b.tools, job.topology, self.catalogue, self.cfg.cpp,
                           seed=job.seed, episode_id=f"{job.question.qid}#{job.seed}", memory=self.b.memory)

    def run(self, jobs: Sequence[EpisodeJob], progress: bool = False) -> list[Episode]:
        bar: Any = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc="episodes", unit="ep")
        # in-process engines run on this thread's cores anyway: threads would only interleave
        workers = self.cfg.ray.concurrency if self.b.on_ray else 1
        out: list[Episode] = []
        with ThreadPoolExecutor(max_workers=workers) as ex:
            for ep in ex.map(self.run_one, jobs):
                out.append(ep)
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        return out
