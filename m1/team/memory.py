"""The team's shared memory: an append-only log of tool results per episode, read through a topology.

Each entry is small — who ran which tool with which arguments, the text rendering, the
candidate answer, frames and seconds — while the structured payload is kept beside it and
referenced by key (``payload_ref``), so that reading memory never copies frames or long
payloads. One :class:`SharedMemory` serves any number of concurrent episodes (keyed by
episode id); the same class runs in-process or as a Ray actor (``actors/memory.py``).

Reads are filtered by the episode's :class:`~m1.team.topology.Topology`: a reader sees its own
entries and those of agents with an edge to it, and may ask only for entries newer than the
last id it saw.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from m1.schema import ToolErrorKind, ToolResult
from m1.team.topology import Topology


class MemoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0, description="Position in the episode's log (0, 1, ...).")
    agent: int = Field(ge=0)
    step: int = Field(ge=1, description="The writer's step number.")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    text: str
    candidate: str | None = None
    confidence: float | None = None
    error: str | None = None
    error_kind: ToolErrorKind | None = Field(None, description="Why the call failed (ToolResult.error_kind).")
    frames: int = Field(0, ge=0, description="Frames this call decoded (0 when served from the episode cache).")
    seconds: float = Field(0.0, ge=0.0)
    payload_ref: str | None = Field(None, description="Key of the structured payload in the memory's store.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_error_kind(cls, data: Any) -> Any:
        """Traces written before error kinds existed: the two kinds the format reward reads, from
        the fixed openings m1.tools.registry gave those messages (other failures keep None)."""
        if isinstance(data, dict) and data.get("error") and "error_kind" not in data:
            for opening, kind in _LEGACY_OPENINGS:
                if str(data["error"]).startswith(opening):
                    return {**data, "error_kind": kind}
        return data

    @classmethod
    def from_result(cls, id: int, agent: int, step: int, result: ToolResult, payload_ref: str | None) -> MemoryEntry:
        return cls(
            id=id, agent=agent, step=step, tool=result.tool, args=result.args, text=result.text,
            candidate=result.candidate, confidence=result.confidence, error=result.error,
            error_kind=result.error_kind,
            frames=result.frames_used, seconds=result.seconds, payload_ref=payload_ref,
        )


_LEGACY_OPENINGS = (("bad arguments for ", ToolErrorKind.BAD_ARGS), ("unknown tool ", ToolErrorKind.UNKNOWN_TOOL))


class UnknownEpisodeError(KeyError):
    pass


class SharedMemory:
    """Append-only, topology-filtered memory for many episodes at once."""

    def __init__(self) -> None:
        self._entries: dict[str, list[MemoryEntry]] = {}
        self._payloads: dict[str, dict[str, dict[str, Any]]] = {}
        self._topologies: dict[str, Topology] = {}

    def open(self, episode_id: str, topology: Topology) -> None:
        if episode_id in self._entries:
            raise ValueError(f"episode {episode_id!r} is already open")
        self._entries[episode_id] = []
        self._payloads[episode_id] = {}
        self._topologies[episode_id] = topology

    def _log(self, episode_id: str) -> list[MemoryEntry]:
        try:
            return self._entries[episode_id]
        except KeyError:
            raise UnknownEpisodeError(f"episode {episode_id!r} is not open") from None

    def append(self, episode_id: str, agent: int, step: int, result: ToolResult) -> MemoryEntry:
        """Record ``agent``'s step result; returns the stored entry (payload kept by reference)."""
        log = self._log(episode_id)
        topo = self._topologies[episode_id]
        if not (0 <= agent < topo.num_agents and topo.active[agent]):
            raise ValueError(f"agent {agent} is not active in episode {episode_id!r}")
        ref = None
        if result.payload:
            ref = f"{episode_id}/{len(log)}"
            self._payloads[episode_id][ref] = result.payload
        entry = MemoryEntry.from_result(len(log), agent, step, result, ref)
        log.append(entry)
        return entry

    def read(self, episode_id: str, reader: int, after: int = -1, everything: bool = False) -> list[MemoryEntry]:
        """Entries with id > ``after`` that ``reader`` may see (``everything``: ignore the topology,
        for the summariser that writes the final answer from the whole memory)."""
        log = self._log(episode_id)
        topo = self._topologies[episode_id]
        return [e for e in log[after + 1:] if everything or topo.can_read(reader, e.agent)]

    def payload(self, episode_id: str, ref: str) -> dict[str, Any]:
        try:
            return self._payloads[episode_id][ref]
        except KeyError:
            raise UnknownEpisodeError(f"no payload {ref!r} in episode {episode_id!r}") from None

    def close(self, episode_id: str) -> list[MemoryEntry]:
        """Forget an episode; returns its full log (the trace keeps it)."""
        log = self._log(episode_id)
        del self._entries[episode_id], self._payloads[episode_id], self._topologies[episode_id]
        return log

    def open_episodes(self) -> list[str]:
        return list(self._entries)
