"""Placement groups on a local Ray: the planned layout is created as a placement group and the
actors run inside their bundles — the real policy, learner and tool-worker actors of a MARL run on
CPU bundles, and probe actors in the real team's GPU bundles on a Ray that is told it has 8 GPUs
(no CUDA here: Ray's GPU accounting and CUDA_VISIBLE_DEVICES assignment are what is tested)."""

from pathlib import Path

import pytest

from m1.config import load_config

pytestmark = [pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from actors import init_ray

    if ray.is_initialized():  # an earlier module's Ray (m1 run keeps its own): this one needs 8 GPUs
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=8, namespace="m1-placement-test", include_dashboard=False)
    yield init_ray()  # reuses the Ray just started
    ray.shutdown()


def _used_bundles(pg_id):
    """Bundles of the group that something runs in: Ray's ``bundle_group_<i>_<pg>`` marker (1000 per
    bundle) drops below 1000 once an actor is scheduled into bundle ``i``."""
    import ray

    avail = ray.available_resources()
    return {i for i in range(64) if f"bundle_group_{i}_{pg_id}" in avail and avail[f"bundle_group_{i}_{pg_id}"] < 1000}


def _group_of(actor):
    import ray

    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_placement_group_id()),
                   timeout=30)


def _probe_class():
    class Probe:  # defined in a function: pickled by value (workers cannot import this test module)
        def where(self):
            import os

            import ray

            ctx = ray.get_runtime_context()
            return {"pg": ctx.get_placement_group_id(), "gpus": sorted(str(g) for g in ray.get_gpu_ids()),
                    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    return Probe


def test_real_team_gpu_bundles_keep_colocated_actors_on_one_gpu(ray_local):
    from actors.placement import Placement
    from m1.placement import placement_layout

    ray = ray_local
    cfg = load_config(ROOT / "configs" / "real_team.yaml",
                      ["ray.policy_cpus=0.05", "ray.tool_cpus=0.05", "ray.learner_cpus=0.05"])
    placement = Placement(placement_layout(cfg, root=ROOT), timeout=60)
    try:
        table = ray.util.placement_group_table(placement.group)
        assert table["state"] == "CREATED" and table["strategy"] == "PACK"
        want = [b.get("GPU", 0) for b in placement.layout.bundles]
        assert [b.get("GPU", 0) for b in table["bundles"].values()] == want
        probe = ray.remote(_probe_class())
        actors = {k: probe.options(**placement.options(k)).remote() for k in placement.layout.slots}
        seen = {k: v for k, v in zip(actors, ray.get([a.where.remote() for a in actors.values()], timeout=60),
                                    strict=True)}
        assert all(v["pg"] == placement.group.id.hex() for v in seen.values())
        # the plan colocates three engines on one GPU: inside one bundle, Ray gives them the same GPU
        assert seen["policy:qwen3-8b"]["gpus"] == seen["policy:qwen2.5-7b"]["gpus"] == seen["policy:qwen3-4b"]["gpus"]
        assert len(seen["policy:qwen3-8b"]["gpus"]) == 1 and seen["policy:qwen3-8b"]["cuda"]
        assert len({tuple(seen[f"tool:{i}"]["gpus"]) for i in range(4)}) == 1   # the four VLM workers' GPU
        learner = set(seen["learner"]["gpus"])
        assert len(learner) == 4                             # whole GPUs of its own: 3 of learners, 1 of references
        others = {g for k, v in seen.items() if k != "learner" for g in v["gpus"]}
        assert not learner & others
        assert seen["policy:qwen2.5-3b"]["gpus"] != seen["policy:qwen3-8b"]["gpus"]  # another planned GPU
        for a in actors.values():
            ray.kill(a)
    finally:
        placement.remove()


@pytest.mark.slow  # 37 s at load 4 on the 2-core box (6 actors load models); 93 s under load 19
def test_marl_actors_run_inside_their_cpu_bundles(ray_local, tmp_path):
    from actors import get
    from actors.learner import RayLearner
    from actors.rollout import build_backends
    from m1.checkpoint import agent_dir
    from m1.engines.base import SamplingSettings
    from m1.models import init_team

    ray = ray_local
    cfg = load_config(overrides=["ray.placement_group=true", "ray.tool_workers=1", "ray.start_timeout=60"])
    init_team(cfg.team, tmp_path / "team", seed=0)
    b = build_backends(cfg, tmp_path / "team", use_ray=True, with_learner=True)
    pg = b.placement.group.id.hex()
    try:
        table = ray.util.placement_group_table(b.placement.group)
        assert table["state"] == "CREATED" and len(table["bundles"]) == 4 + 1 + 1
        slots = b.placement.layout.slots
        before = _used_bundles(pg)  # the policies and tool workers are in; the learner's bundle is free
        assert before == {s.bundle for k, s in slots.items() if k != "learner"}
        learner = RayLearner([agent_dir(tmp_path / "team", a) for a in cfg.team.agents], cfg.grpo,
                             num_cpus=cfg.ray.learner_cpus, placement=b.placement)
        assert _used_bundles(pg) - before == {slots["learner"].bundle}
        avail = ray.available_resources()
        assert all(avail.get(f"CPU_group_{i}_{pg}", 0.0) == 0.0 for i in range(6))  # each bundle is its actor's
        actors = [*b.team.actors, *b.tools.workers, learner.actor]
        assert [_group_of(a) for a in actors] == [pg] * 6
        # the actors in their bundles work: a generation and a learner call
        settings = SamplingSettings(max_new_tokens=3, temperature=0.0)
        (out,) = get(b.team.actors[0].generate.remote([[5, 6, 7]], settings), 60, "generation")
        assert len(out.completion_ids) >= 1 and learner.steps == 0
    finally:
        b.placement.remove()  # kills the actors scheduled in it
