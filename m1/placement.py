"""The placement-group layout of a run: which Ray bundles to reserve and which bundle each actor
goes into. Pure data from the config and the resource plan (:mod:`m1.resources`); ``actors.placement``
creates it as a Ray placement group and schedules the actors into it.

Actors, by key: ``policy:<agent>`` (one ``PolicyAgentActor`` per agent), ``learner`` (the one
``LearnerActor`` holding every agent's learner) and ``tool:<i>`` (the ``ray.tool_workers`` tool
workers; ``tool:<i>`` is the plan's ``tool-vlm:<i>`` when the VLM runs on a GPU).

* **On a GPU cluster** (``cluster.gpus_per_node > 0``) the bundles follow the plan's GPUs: one
  bundle per planned GPU, holding the fractional Ray GPU requests of the actors placed on it (their
  sum is at most 1 — the planner keeps it so) and their CPUs, so actors the plan colocates on a GPU
  get the *same* physical GPU (Ray gives a fractional bundle one GPU). The ``LearnerActor`` with
  whole GPUs gets one bundle of ``ray.learner_gpus`` GPUs (one node: a bundle never spans nodes).
  Actors with no GPU (CPU tool workers) get a CPU bundle each.
* **On CPU** (no cluster shape) the same code makes one CPU bundle per actor: per agent its
  engine, the learner, each tool worker.

A bundle must hold some resource, so a bundle whose actors ask for no CPU reserves ``MIN_CPU``.

Strategy (``cluster.placement_strategy``): ``PACK`` (default) puts the bundles on as few nodes as
possible but may use others, which is what a one-node run wants without failing on a larger
cluster; ``STRICT_PACK`` refuses to start unless every bundle fits one node (colocated engines and
learner: CUDA-IPC weight transfer needs the same node); ``SPREAD`` puts bundles on different nodes
where it can (fault isolation and more PCIe/NIC bandwidth for NCCL weight broadcasts, at the cost
of cross-node transfers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m1.config import M1Config
from m1.resources import PlacementError, ResourcePlan, plan_resources, tool_worker_gpus

MIN_CPU = 0.01


@dataclass(frozen=True)
class ActorSlot:
    """Where one actor goes: its bundle and what it asks for inside it."""

    bundle: int
    num_cpus: float
    num_gpus: float


@dataclass
class PlacementLayout:
    strategy: str
    bundles: list[dict[str, float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # what each bundle is (e.g. "node 0 gpu 3")
    slots: dict[str, ActorSlot] = field(default_factory=dict)

    def add(self, label: str, actors: dict[str, tuple[float, float]]) -> int:
        """A bundle for ``actors`` (key → (cpus, gpus)); returns its index."""
        i = len(self.bundles)
        cpus = round(sum(c for c, _ in actors.values()), 4)
        gpus = round(sum(g for _, g in actors.values()), 4)
        bundle = {"CPU": max(cpus, MIN_CPU)}
        if gpus > 0:
            bundle["GPU"] = gpus
        self.bundles.append(bundle)
        self.labels.append(label)
        for key, (c, g) in actors.items():
            self.slots[key] = ActorSlot(i, c, g)
        return i

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "bundles": self.bundles, "labels": self.labels,
                "actors": {k: {"bundle": s.bundle, "num_cpus": s.num_cpus, "num_gpus": s.num_gpus}
                           for k, s in self.slots.items()}}


def placement_layout(cfg: M1Config, with_learner: bool = True, root: Path | None = None,
                     plan: ResourcePlan | None = None) -> PlacementLayout:
    """The layout of ``cfg``'s actors: from the GPU plan when the config has a cluster shape
    (:func:`m1.resources.plan_resources`, refused as it refuses), else CPU bundles."""
    if cfg.cluster.gpus_per_node == 0:
        return cpu_layout(cfg, with_learner)
    return gpu_layout(cfg, plan or plan_resources(cfg, root), with_learner, root)


def cpu_layout(cfg: M1Config, with_learner: bool = True) -> PlacementLayout:
    r = cfg.ray
    out = PlacementLayout(cfg.cluster.placement_strategy)
    gpus = tool_worker_gpus(cfg)
    if r.policy_gpus or gpus or (with_learner and r.learner_gpus):
        raise PlacementError(["the actors ask for GPUs (ray.policy_gpus / ray.tool_gpus / ray.learner_gpus) but "
                              "cluster.gpus_per_node = 0: set the cluster shape so the GPUs can be planned"])
    for a in cfg.team.agents:
        out.add(f"engine {a.name}", {f"policy:{a.name}": (r.policy_cpus, 0.0)})
    if with_learner:
        out.add("learner", {"learner": (r.learner_cpus, 0.0)})
    for i in range(r.tool_workers):
        out.add(f"tool worker {i}", {f"tool:{i}": (r.tool_cpus, 0.0)})
    return out


def gpu_layout(cfg: M1Config, plan: ResourcePlan, with_learner: bool = True,
               root: Path | None = None) -> PlacementLayout:
    r = cfg.ray
    out = PlacementLayout(plan.strategy)
    req = plan.requests
    tp = {a.name: a.tensor_parallel_size for a in cfg.cluster.agents}
    wide = [n for n, t in tp.items() if t > 1]
    if wide:
        raise PlacementError([f"policy:{n}: tensor_parallel_size={tp[n]}: vLLM places its tensor-parallel workers "
                              "itself; placement groups (ray.placement_group) support tensor_parallel_size 1 only"
                              for n in wide])
    whole_learner = req.get("learner", 0.0) >= 1
    placed: set[str] = set()
    for g in plan.gpus:
        actors: dict[str, tuple[float, float]] = {}
        for name, _ in g.actors:
            if name.startswith("policy:"):
                actors[name] = (r.policy_cpus, min(req[name], 1.0))
            elif name.startswith("tool-vlm:"):
                actors["tool:" + name.split(":", 1)[1]] = (r.tool_cpus, min(req[name], 1.0))
            elif name.startswith(("learner:", "reference:")) and with_learner and not whole_learner \
                    and "learner" not in placed:
                actors["learner"] = (r.learner_cpus, req["learner"])
        if actors:
            out.add(f"node {g.node} gpu {g.index}", actors)
            placed.update(actors)
    if with_learner and whole_learner:
        out.add("learner GPUs", {"learner": (r.learner_cpus, req["learner"])})
    elif with_learner and "learner" not in placed:  # learners not planned on GPUs (cluster.learner_on_gpu=false)
        out.add("learner", {"learner": (r.learner_cpus, r.learner_gpus)})
    for i in range(r.tool_workers):  # tool workers whose back-end runs on CPU
        if f"tool:{i}" not in out.slots:
            out.add(f"tool worker {i}", {f"tool:{i}": (r.tool_cpus, 0.0)})
    return out
