"""Many CPP episodes at once through one set of back-ends.

:class:`Backends` bundles a team, tools and memory — in-process (``LocalTeam``, ``ToolRunner``,
``SharedMemory``) or Ray proxies (built by ``actors.rollout.build_backends``);
:class:`RolloutDriver` runs :class:`EpisodeJob`s through them, ``ray.concurrency`` at a time on
Ray (threads waiting on actors) and one at a time in-process (the engines would only share the
same cores). Every sampling decision is fixed by the job's seed, so the traces are identical
either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from m1.config import M1Config, SamplingConfig
from m1.schema import Question, ToolSpec
from m1.team.cpp import MemoryBackend, TeamBackend, ToolBackend, run_episode
from m1.team.topology import Topology
from m1.team.trace import Episode


@dataclass
class Backends:
    team: TeamBackend
    tools: ToolBackend
    memory: MemoryBackend
    on_ray: bool
    placement: Any = None  # the run's actors.placement.Placement when ray.placement_group is on
    catalogue: list[ToolSpec] | None = None  # what the team's prompts render (m1.models.team_catalogue)

    def tool_catalogue(self) -> list[ToolSpec]:
        """The tool catalogue this team's prompts render and its plans are checked against: the one it
        was trained on (``build_backends`` sets it), else today's."""
        from m1.tools.registry import catalogue  # noqa: PLC0415

        return list(self.catalogue) if self.catalogue is not None else catalogue()


@dataclass(frozen=True)
class EpisodeJob:
    question: Question
    topology: Topology
    seed: int


class RolloutDriver:
    """Runs episodes sampling with ``sampling``: ``cfg.sampling.train`` for MARL rollouts,
    ``cfg.sampling.eval`` for the evaluations between updates."""

    def __init__(self, backends: Backends, catalogue: Sequence[ToolSpec], cfg: M1Config, sampling: SamplingConfig):
        self.b, self.catalogue, self.cfg, self.sampling = backends, list(catalogue), cfg, sampling

    def run_one(self, job: EpisodeJob) -> Episode:
        return run_episode(job.question, self.b.team, self.b.tools, job.topology, self.catalogue, self.cfg.cpp,
                           self.sampling, seed=job.seed, episode_id=f"{job.question.qid}#{job.seed}",
                           memory=self.b.memory)

    def run(self, jobs: Sequence[EpisodeJob], progress: bool = False, desc: str = "episodes") -> list[Episode]:
        bar: Any = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc=desc, unit="ep", leave=False)
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
