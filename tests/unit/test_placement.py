"""``m1.placement``: the placement-group layout from the resource plan (GPU) or per actor (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from m1.config import load_config
from m1.placement import MIN_CPU, placement_layout
from m1.resources import PlacementError

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "configs" / "real_team.yaml"


def test_real_team_bundles_follow_the_planned_gpus():
    cfg = load_config(REAL)
    lay = placement_layout(cfg, root=ROOT)
    assert lay.strategy == "PACK"
    names = [a.name for a in cfg.team.agents]
    assert set(lay.slots) == {f"policy:{n}" for n in names} | {"learner"} | {f"tool:{i}" for i in range(4)}
    # the three engines the plan puts on one GPU share one bundle of 3 x 0.3 GPU and 3 x 2 CPUs
    b = lay.slots["policy:qwen3-8b"].bundle
    assert lay.slots["policy:qwen2.5-7b"].bundle == lay.slots["policy:qwen3-4b"].bundle == b
    assert lay.bundles[b] == {"CPU": 6.0, "GPU": 0.9}
    tools = {lay.slots[f"tool:{i}"].bundle for i in range(4)}
    assert len(tools) == 1 and lay.bundles[tools.pop()] == {"CPU": 16.0, "GPU": 1.0}
    learner = lay.slots["learner"]
    assert lay.bundles[learner.bundle] == {"CPU": 8.0, "GPU": 4.0} and learner.num_gpus == 4.0  # + references
    assert sum(bd.get("GPU", 0) for bd in lay.bundles) == pytest.approx(4 * 0.3 + 4 * 0.25 + 4)
    assert all(bd.get("GPU", 0) <= 1 for i, bd in enumerate(lay.bundles) if i != learner.bundle)
    assert lay.to_dict()["actors"]["tool:2"]["num_gpus"] == 0.25


def test_one_gpu_layout_puts_the_fractional_learner_beside_the_engines():
    cfg = load_config(overrides=["cluster.gpus_per_node=1", "cluster.gpu_memory_gb=16", "ray.policy_gpus=0.1",
                                 "ray.learner_gpus=0.5"])
    lay = placement_layout(cfg)
    assert len({s.bundle for k, s in lay.slots.items() if not k.startswith("tool:")}) == 1
    (gpu_bundle,) = [bd for bd in lay.bundles if "GPU" in bd]
    assert gpu_bundle == {"CPU": 4 * 0.25 + 0.5, "GPU": 0.9}
    assert [lay.bundles[lay.slots[f"tool:{i}"].bundle] for i in range(2)] == [{"CPU": 0.25}] * 2  # CPU tools


def test_cpu_layout_has_a_bundle_per_actor():
    cfg = load_config(overrides=["ray.tool_workers=3", "ray.learner_cpus=0"])
    lay = placement_layout(cfg, with_learner=True)
    assert len(lay.bundles) == 4 + 1 + 3 and len({s.bundle for s in lay.slots.values()}) == 8
    assert lay.bundles[lay.slots["learner"].bundle] == {"CPU": MIN_CPU}  # a bundle must hold something
    assert "learner" not in placement_layout(cfg, with_learner=False).slots


@pytest.mark.parametrize("overrides,needle", [
    (["ray.policy_gpus=0.5"], "cluster.gpus_per_node = 0"),
])
def test_layouts_that_cannot_work_are_refused(overrides, needle):
    with pytest.raises(PlacementError, match=needle):
        placement_layout(load_config(overrides=overrides))


def test_tensor_parallel_engines_are_refused_in_placement_groups():
    cfg = load_config(REAL, ["cluster.nodes=2", "cluster.gpus_per_node=4"])
    cfg.cluster.agents[3].tensor_parallel_size = 2
    cfg.cluster.agents[3].gpu_memory_utilization = 0.2
    with pytest.raises(PlacementError, match="policy:qwen3-8b: tensor_parallel_size=2"):
        placement_layout(cfg, root=ROOT)
