"""Communication topologies: who may read whose shared-memory entries, and Agent Dropout.

A :class:`Topology` over N agents has a set of *active* agents and directed edges
``writer → reader``: an edge means the reader sees the writer's memory entries. Every agent
always sees its own entries. At inference the default is the complete graph (everyone reads
everyone; not a DAG, and it need not be). For training, :func:`sample_topology` draws a random
DAG — a random priority order of the agents, each forward edge kept with probability
``edge_prob`` — and drops each agent with probability ``dropout`` (the paper's Agent Dropout:
a dropped agent takes no part in that rollout: no plan, no tool calls, no vote). At least
``min_active`` agents always remain.

This module decides who may read what; it does not store entries (see :mod:`m1.team.memory`).
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    num_agents: int = Field(ge=1, le=64)
    active: tuple[bool, ...] = Field(description="active[i]: agent i takes part in the episode.")
    edges: tuple[tuple[int, int], ...] = Field(description="(writer, reader) pairs, writer != reader.")
    kind: str = Field("complete", description="complete | dag (how it was made; informational).")

    @model_validator(mode="after")
    def _check(self) -> Topology:
        if len(self.active) != self.num_agents:
            raise ValueError(f"active has {len(self.active)} entries for {self.num_agents} agents")
        if not any(self.active):
            raise ValueError("a topology needs at least one active agent")
        for w, r in self.edges:
            if not (0 <= w < self.num_agents and 0 <= r < self.num_agents) or w == r:
                raise ValueError(f"bad edge {(w, r)} for {self.num_agents} agents")
            if not (self.active[w] and self.active[r]):
                raise ValueError(f"edge {(w, r)} touches a dropped agent")
        if len(set(self.edges)) != len(self.edges):
            raise ValueError("duplicate edges")
        return self

    @property
    def active_agents(self) -> list[int]:
        return [i for i, a in enumerate(self.active) if a]

    def can_read(self, reader: int, writer: int) -> bool:
        """True when ``reader`` may see ``writer``'s entries (always its own, if active)."""
        if not (self.active[reader] and self.active[writer]):
            return False
        return reader == writer or (writer, reader) in self._edge_set

    def readable_by(self, reader: int) -> list[int]:
        return [w for w in range(self.num_agents) if self.can_read(reader, w)]

    @property
    def _edge_set(self) -> frozenset[tuple[int, int]]:
        # frozen model: computing on demand is cheap for <= 64 agents and keeps the model plain data
        return frozenset(self.edges)

    def is_acyclic(self) -> bool:
        """Kahn's algorithm over the active agents."""
        indeg = {i: 0 for i in self.active_agents}
        out: dict[int, list[int]] = {i: [] for i in self.active_agents}
        for w, r in self.edges:
            out[w].append(r)
            indeg[r] += 1
        queue = [i for i, d in indeg.items() if d == 0]
        seen = 0
        while queue:
            n = queue.pop()
            seen += 1
            for r in out[n]:
                indeg[r] -= 1
                if indeg[r] == 0:
                    queue.append(r)
        return seen == len(indeg)


def complete_topology(num_agents: int) -> Topology:
    """Everyone active, everyone reads everyone: the inference default."""
    edges = tuple((w, r) for w in range(num_agents) for r in range(num_agents) if w != r)
    return Topology(num_agents=num_agents, active=(True,) * num_agents, edges=edges, kind="complete")


def sample_topology(
    num_agents: int, rng: random.Random, *, dropout: float = 0.2, edge_prob: float = 0.5, min_active: int = 1
) -> Topology:
    """A random DAG with Agent Dropout (rule in the module docstring)."""
    if not 0.0 <= dropout < 1.0 or not 0.0 <= edge_prob <= 1.0:
        raise ValueError(f"dropout must be in [0, 1) and edge_prob in [0, 1], got {dropout}, {edge_prob}")
    if not 1 <= min_active <= num_agents:
        raise ValueError(f"min_active must be in [1, {num_agents}], got {min_active}")
    active = [rng.random() >= dropout for _ in range(num_agents)]
    dropped = [i for i, a in enumerate(active) if not a]
    rng.shuffle(dropped)
    while sum(active) < min_active:  # revive dropped agents in random order
        active[dropped.pop()] = True
    order = [i for i in range(num_agents) if active[i]]
    rng.shuffle(order)
    edges = tuple(
        (order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order)) if rng.random() < edge_prob
    )
    return Topology(num_agents=num_agents, active=tuple(active), edges=edges, kind="dag")
