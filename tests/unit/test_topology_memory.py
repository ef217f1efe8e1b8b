"""Topologies (DAG sampling, Agent Dropout) and the shared memory's topology-filtered reads."""

import pickle
import random

import pytest
from pydantic import ValidationError

from m1.schema import ToolResult
from m1.team.memory import SharedMemory, UnknownEpisodeError
from m1.team.topology import Topology, complete_topology, sample_topology


def test_complete_topology_everyone_reads_everyone():
    t = complete_topology(4)
    assert all(t.can_read(r, w) for r in range(4) for w in range(4))
    assert not t.is_acyclic() and t.active_agents == [0, 1, 2, 3]
    assert complete_topology(1).is_acyclic()


def test_sampled_topologies_are_dags_with_the_dropout_rate():
    rng = random.Random(0)
    n, trials, p = 4, 4000, 0.25
    dropped = 0
    for _ in range(trials):
        t = sample_topology(n, rng, dropout=p, edge_prob=0.5)
        assert t.is_acyclic() and t.kind == "dag"
        assert len(t.active_agents) >= 1
        assert all(t.active[w] and t.active[r] for w, r in t.edges)
        dropped += n - len(t.active_agents)
    # revival when everyone is dropped (prob p**n = 0.4%) biases the rate down by ~0.1 point
    assert abs(dropped / (n * trials) - p) < 0.015


def test_no_dropout_and_full_edges_give_a_tournament():
    t = sample_topology(5, random.Random(1), dropout=0.0, edge_prob=1.0)
    assert len(t.active_agents) == 5 and len(t.edges) == 10 and t.is_acyclic()
    # exactly one of each pair can read the other
    assert all(t.can_read(a, b) != t.can_read(b, a) for a in range(5) for b in range(5) if a != b)


def test_min_active_is_honoured():
    for s in range(200):
        t = sample_topology(4, random.Random(s), dropout=0.9, min_active=2)
        assert len(t.active_agents) >= 2


def test_sampling_is_seeded_and_validation_rejects_nonsense():
    assert sample_topology(4, random.Random(7)) == sample_topology(4, random.Random(7))
    with pytest.raises(ValueError, match="dropout"):
        sample_topology(3, random.Random(0), dropout=1.0)
    with pytest.raises(ValidationError, match="touches a dropped agent"):
        Topology(num_agents=2, active=(True, False), edges=((0, 1),))
    with pytest.raises(ValidationError, match="at least one active"):
        Topology(num_agents=2, active=(False, False), edges=())
    with pytest.raises(ValidationError, match="bad edge"):
        Topology(num_agents=2, active=(True, True), edges=((0, 0),))


def _res(tool, text, **kw):
    return ToolResult(tool=tool, args={"n": 1}, text=text, **kw)


def test_memory_visibility_follows_topology():
    # 0 -> 1 -> 2 (agent 2 also reads 0 via no edge: it must not), agent 3 dropped
    topo = Topology(num_agents=4, active=(True, True, True, False), edges=((0, 1), (1, 2)), kind="dag")
    mem = SharedMemory()
    mem.open("ep", topo)
    mem.append("ep", 0, 1, _res("global_sampling", "a0 saw", payload={"frames": [1, 2]}))
    mem.append("ep", 1, 1, _res("grounding", "a1 saw"))
    mem.append("ep", 2, 1, _res("spatial", "a2 saw"))
    assert [e.agent for e in mem.read("ep", 0)] == [0]
    assert [e.agent for e in mem.read("ep", 1)] == [0, 1]
    assert [e.agent for e in mem.read("ep", 2)] == [1, 2]
    assert [e.agent for e in mem.read("ep", 2, everything=True)] == [0, 1, 2]
    assert [e.id for e in mem.read("ep", 1, after=0)] == [1]
    with pytest.raises(ValueError, match="not active"):
        mem.append("ep", 3, 1, _res("spatial", "dropped"))


def test_memory_keeps_payloads_by_reference_and_pickles():
    mem = SharedMemory()
    mem.open("ep", complete_topology(2))
    e = mem.append("ep", 0, 1, _res("image_retrieval", "top frames", payload={"frames": list(range(1000))}))
    assert e.payload_ref == "ep/0" and "payload" not in e.model_dump()
    assert mem.payload("ep", e.payload_ref)["frames"][-1] == 999
    e2 = mem.append("ep", 1, 1, _res("grounding", "no payload"))
    assert e2.payload_ref is None
    clone = pickle.loads(pickle.dumps(mem))
    assert clone.read("ep", 1) == mem.read("ep", 1)
    log = mem.close("ep")
    assert [x.id for x in log] == [0, 1]
    with pytest.raises(UnknownEpisodeError):
        mem.read("ep", 0)
    with pytest.raises(ValueError, match="already open"):
        clone.open("ep", complete_topology(2))
