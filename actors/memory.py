"""``SharedMemoryActor``: the team's shared memory (:class:`m1.team.memory.SharedMemory`) as one Ray
actor serving all concurrent episodes, and :class:`RayMemory`, the proxy the CPP loop calls."""

from __future__ import annotations

from typing import Any

from actors import get
from m1.schema import ToolResult
from m1.team.memory import MemoryEntry, SharedMemory
from m1.team.topology import Topology


def make_memory_actor(namespace_name: str | None = None) -> Any:
    import ray

    cls = ray.remote(num_cpus=0, max_restarts=0)(SharedMemory)
    opts = {"name": namespace_name, "get_if_exists": True} if namespace_name else {}
    return cls.options(**opts).remote()


class RayMemory:
    """Implements :class:`m1.team.cpp.MemoryBackend` over a ``SharedMemoryActor``."""

    def __init__(self, actor: Any, timeout: float = 30.0):
        self.actor, self.timeout = actor, timeout

    def open(self, episode_id: str, topology: Topology) -> None:
        get(self.actor.open.remote(episode_id, topology), self.timeout, "memory.open")

    def append(self, episode_id: str, agent: int, step: int, result: ToolResult) -> MemoryEntry:
        return get(self.actor.append.remote(episode_id, agent, step, result), self.timeout, "memory.append")

    def read(self, episode_id: str, reader: int, after: int = -1, everything: bool = False) -> list[MemoryEntry]:
        return get(self.actor.read.remote(episode_id, reader, after, everything), self.timeout, "memory.read")

    def close(self, episode_id: str) -> list[MemoryEntry]:
        return get(self.actor.close.remote(episode_id), self.timeout, "memory.close")
