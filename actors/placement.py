"""Creates the run's placement group (:mod:`m1.placement`) on Ray and gives each actor the options that
schedule it into its bundle.

    placement = Placement.create(cfg, with_learner=True)        # waits until Ray reserved every bundle
    cls.options(**placement.options("policy:qwen3-8b")).remote(...)

A placement group Ray cannot satisfy would leave the actors pending forever; :meth:`Placement.create`
waits ``ray.start_timeout`` seconds, removes the group and raises :class:`actors.RayResourceError`
naming the bundles and what the cluster has.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from actors import RayResourceError
from m1.config import M1Config
from m1.placement import PlacementLayout, placement_layout


class Placement:
    """A created placement group and the layout it was made from."""

    def __init__(self, layout: PlacementLayout, timeout: float = 90.0, name: str | None = None):
        import ray
        from ray.exceptions import GetTimeoutError
        from ray.util.placement_group import placement_group, remove_placement_group

        self.layout = layout
        self.name = name or f"m1-{uuid.uuid4().hex[:8]}"
        self.group = placement_group(layout.bundles, strategy=layout.strategy, name=self.name)
        try:
            ray.get(self.group.ready(), timeout=timeout)
        except GetTimeoutError:
            remove_placement_group(self.group)
            have = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
            detail = "; ".join(f"{lab}: {b}" for lab, b in zip(layout.labels, layout.bundles, strict=True))
            raise RayResourceError(
                f"the placement group ({layout.strategy}, {len(layout.bundles)} bundles) was not reserved within "
                f"{timeout:.0f} s: the cluster has {have}; bundles: {detail}") from None

    @classmethod
    def create(cls, cfg: M1Config, with_learner: bool = True, root: Path | None = None) -> Placement:
        return cls(placement_layout(cfg, with_learner, root), timeout=cfg.ray.start_timeout)

    def options(self, actor: str) -> dict[str, Any]:
        """``ray.remote(...).options(**this)`` for ``actor`` (``policy:<agent>``, ``learner``, ``tool:<i>``)."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        try:
            slot = self.layout.slots[actor]
        except KeyError:
            have = sorted(self.layout.slots)
            raise KeyError(f"{actor!r} has no bundle in the placement group (have {have})") from None
        return {"num_cpus": slot.num_cpus, "num_gpus": slot.num_gpus,
                "scheduling_strategy": PlacementGroupSchedulingStrategy(
                    placement_group=self.group, placement_group_bundle_index=slot.bundle)}

    def remove(self) -> None:
        from ray.util.placement_group import remove_placement_group

        remove_placement_group(self.group)
