"""``m1.resources`` / ``m1 plan-resources``: exact parameter counts of the published Qwen configs,
hand-checked memory parts, packings that fit, and refusals that name the actor and the shortfall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main as cli_main
from m1.config import load_config
from m1.resources import (
    GB,
    PlacementError,
    learner_demand,
    load_architecture,
    plan_resources,
    tiny_architecture,
)

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "configs" / "real_team.yaml"
MODELS = ROOT / "configs" / "real_models"


def real(*overrides: str):
    return load_config(REAL, list(overrides))


@pytest.mark.parametrize("name,params", [("qwen2.5-3b", 3_085_938_688), ("qwen2.5-7b", 7_615_616_512),
                                         ("qwen3-4b", 4_022_468_096), ("qwen3-8b", 8_190_735_360),
                                         ("qwen2.5-vl-7b", 8_292_166_656)])
def test_parameter_counts_equal_the_models_transformers_builds(name, params):
    # the constants are what transformers builds from these configs on the meta device (checked once)
    assert load_architecture(MODELS / f"{name}.json").params() == params


def test_parameter_count_formula_matches_transformers_on_meta_device():
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = json.loads((MODELS / "qwen3-4b.json").read_text())
    spec.pop("_source")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**spec))
    assert sum(p.numel() for p in model.parameters()) == load_architecture(MODELS / "qwen3-4b.json").params()


def test_tiny_build_count_matches_m1_models():
    from m1.checkpoint import train_tokenizer
    from m1.models import build_model

    cfg = load_config()
    tok = train_tokenizer(["a b c d"] * 10, 300)
    spec = cfg.team.agents[1]
    model = build_model(spec, tok)
    assert sum(p.numel() for p in model.parameters()) == tiny_architecture(spec, model.config.vocab_size).params()


def test_learner_parts_by_hand():
    cfg = real()
    arch = load_architecture(MODELS / "qwen3-8b.json")
    d = learner_demand("qwen3-8b", arch, cfg)
    p = 8_190_735_360
    assert d.parts["weights"] == pytest.approx(p * 2 / GB)
    assert d.parts["grads"] == pytest.approx(p * 2 / GB)
    assert d.parts["AdamW"] == pytest.approx(p * 4 / GB)
    assert "reference" not in d.parts  # the real config plans its reference apart (cluster.reference_apart)
    per_tok = 36 * (6 * 4096 + 2 * 8 * 128 + 4 * 12288) * 2 + 151936 * 10
    assert d.parts["activations"] == pytest.approx(1024 * per_tok / GB)
    # measured on an H200 (tests/gpu): peak allocated 74.44 GB for this micro-batch, context excluded
    assert d.per_gpu_gb - d.parts["context"] == pytest.approx(74.44, rel=0.05)
    with_ref = learner_demand("qwen3-8b", arch, real("grpo.kl_coef=0.02", "cluster.reference_apart=false"))
    assert with_ref.parts["reference"] == pytest.approx(p * 2 / GB)
    lora = learner_demand("qwen3-8b", arch, real("marl.lora=true", "marl.lora_rank=8"))
    assert lora.parts["grads"] < 0.01 * d.parts["grads"]


def test_real_team_fits_the_papers_8x80gb_node():
    plan = plan_resources(real(), root=ROOT)
    placed = [a for g in plan.gpus for a, _ in g.actors]
    assert sorted(placed) == sorted(d.actor for d in plan.demands) and len(placed) == 16  # 4 x 3 + 4 VLM workers
    assert all(g.used_gb <= 80 + 1e-9 for g in plan.gpus)
    where = {a: g.index for g in plan.gpus for a, _ in g.actors}
    assert where["learner:qwen3-8b"] != where["learner:qwen2.5-7b"]  # 74 + 70 GB cannot share
    assert sum(plan.total_params[a.name] for a in real().team.agents) == 22_914_758_656
    assert plan.ray_bundles()[0]["GPU"] <= 1.0


def test_tensor_parallel_group_lands_on_one_node():
    cfg = real("cluster.nodes=2", "cluster.gpus_per_node=4")
    cfg.cluster.agents[3].tensor_parallel_size = 2
    cfg.cluster.agents[3].gpu_memory_utilization = 0.2
    plan = plan_resources(cfg, root=ROOT)
    slots = [g for g in plan.gpus if any(a == "policy:qwen3-8b" for a, _ in g.actors)]
    assert len(slots) == 2 and len({g.node for g in slots}) == 1


@pytest.mark.parametrize("overrides,needle", [
    (["grpo.kl_coef=0.02", "cluster.reference_apart=false"], "learner:qwen3-8b needs"),  # reference beside: 90 GB
    # the LearnerActor's GPUs must be on one node: 74 + 70 GB of learners do not share one 141 GB GPU
    (["cluster.nodes=3", "cluster.gpus_per_node=1", "cluster.gpu_memory_gb=141", "ray.tool_workers=2",
      "grpo.kl_coef=0"],
     "no room for learner:qwen2.5-7b"),
    (["cluster.gpus_per_node=2"], "short by"),                             # the total is over
    (["cluster.gpu_memory_gb=40"], "learner:qwen2.5-7b needs"),            # 40 GB A100s
    (["engine.vllm_gpu_memory_utilization=0.1", "cluster.agents=[]"], "policy:qwen3-8b: vLLM gets 0.1"),
])
def test_refusals_name_actor_and_shortfall(overrides, needle):
    cfg = real(*overrides)
    if "cluster.agents=[]" in overrides:  # keep the architectures, drop the per-agent fractions
        cfg = real(*[o for o in overrides if o != "cluster.agents=[]"])
        for a in cfg.cluster.agents:
            a.gpu_memory_utilization = None
    with pytest.raises(PlacementError) as e:
        plan_resources(cfg, root=ROOT)
    assert any(needle in r for r in e.value.reasons), e.value.reasons


def test_h200_node_takes_the_reference_copy():
    plan = plan_resources(real("grpo.kl_coef=0.02", "cluster.gpu_memory_gb=141"), root=ROOT)
    assert max(g.used_gb for g in plan.gpus) <= 141


def test_cpu_only_default_is_refused_clearly():
    with pytest.raises(PlacementError, match="CPU-only"):
        plan_resources(load_config())
    one_gpu = ["cluster.gpus_per_node=1", "cluster.gpu_memory_gb=16"]
    with pytest.raises(PlacementError, match="ray.learner_gpus=0 but the plan puts it on a GPU"):
        plan_resources(load_config(overrides=one_gpu))  # the defaults ask Ray for no GPU at all
    tiny = plan_resources(load_config(overrides=one_gpu + ["ray.policy_gpus=0.1", "ray.learner_gpus=0.5"]))
    assert {d.actor for d in tiny.demands} >= {"learner:qwen2-small", "policy:qwen3-base"}
    assert len([g for g in tiny.gpus if g.actors]) == 1 and tiny.gpus[0].ray_share == pytest.approx(0.9)


def test_cli_plan_and_refusal(capsys):
    assert cli_main(["plan-resources", str(REAL), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["placement_group"]["strategy"] == "PACK" and len(out["demands"]) == 16
    assert out["placement_group"]["actors"]["learner"] == {"bundle": 3, "num_cpus": 8.0, "num_gpus": 4.0}
    assert out["ray_gpu_requests"]["tool-vlm:0"] == 0.25 and out["ray_gpu_requests"]["learner"] == 4
    assert cli_main(["plan-resources", str(REAL), "--gpus", "8", "--gpu-mem", "80", "--nodes", "1"]) == 0
    assert "node 0 gpu 0" in capsys.readouterr().out
    assert cli_main(["plan-resources", str(REAL), "--gpu-mem", "40"]) == 2
    err = capsys.readouterr().err
    assert "1 node(s) x 8 GPU(s) x 40 GB" in err and "short by" in err


# ----------------------------------------------------------------------------- GPU tool workers, Ray requests


def test_tool_workers_ask_for_the_gpu_share_their_backend_needs():
    from m1.resources import tool_worker_gpus

    assert tool_worker_gpus(load_config()) == 0.0                                   # CPU tools: no GPU
    assert tool_worker_gpus(real("tools.vlm_device=cpu")) == 0.0
    # Qwen2.5-VL-7B: 8.292e9 params x 2 B + 8192 tokens x (KV 57344 B + 16 x 3584 x 2 B) + 1.5 GB context
    vlm = 8_292_166_656 * 2 / GB + 8192 * (2 * 28 * 4 * 128 * 2 + 16 * 3584 * 2) / GB + 1.5
    assert tool_worker_gpus(real(), root=ROOT) == pytest.approx(0.25)
    assert vlm / 80 == pytest.approx(0.2437, abs=1e-4)                              # rounded up to 0.25
    assert tool_worker_gpus(real("cluster.gpu_memory_gb=141"), root=ROOT) == pytest.approx(0.14)
    assert tool_worker_gpus(real("cluster.gpus_per_node=0")) == 1.0                 # nothing to plan from
    assert tool_worker_gpus(real("ray.tool_gpus=0.5")) == 0.5                       # explicit wins


def test_planner_counts_every_vlm_tool_worker_and_keeps_learner_gpus_apart():
    plan = plan_resources(real(), root=ROOT)
    assert sum(d.actor.startswith("tool-vlm:") for d in plan.demands) == real().ray.tool_workers == 4
    for g in plan.gpus:  # the LearnerActor's GPUs hold learners only (one Ray bundle of whole GPUs)
        kinds = {a.startswith(("learner:", "reference:")) for a, _ in g.actors}
        assert len(kinds) <= 1, g.actors
    assert plan.requests["learner"] == 4 == sum(any(a.startswith(("learner:", "reference:")) for a, _ in g.actors)
                                                for g in plan.gpus)
    more = plan_resources(real("ray.tool_workers=6"), root=ROOT)
    assert sum(d.actor.startswith("tool-vlm:") for d in more.demands) == 6
    assert not any(d.actor.startswith("tool-vlm") for d in plan_resources(real("tools.backend=cpu"), root=ROOT).demands)


@pytest.mark.parametrize("overrides,needle", [
    (["ray.tool_gpus=0"], "tool-vlm:0: ray.tool_gpus=0 but the plan puts it on a GPU"),
    (["ray.policy_gpus=0"], "policy:qwen3-8b: ray.policy_gpus=0"),
    (["ray.learner_gpus=2"], "ray.learner_gpus=2 but the plan puts the agents' learners on 4 GPUs: short by 2"),
    (["ray.learner_gpus=1.5"], "Ray gives fractions of one GPU or whole GPUs"),
    (["ray.tool_gpus=1", "ray.learner_gpus=4"], "ask Ray for 9.2 GPUs"),                 # 4 x 0.3 + 4 x 1 + 4 > 8
    (["ray.tool_gpus=0.75", "ray.tool_workers=6"], "no room for tool-vlm:"),            # 4 x 0.3 + 6 x 0.75 > 5 GPUs
    (["cluster.vlm_workers_on_gpu=2"], "cluster.vlm_workers_on_gpu=2 but every one of the ray.tool_workers=4"),
    (["tools.vlm_device=cpu", "cluster.vlm_workers_on_gpu=2"], "no VLM is loaded on a GPU"),
])
def test_ray_gpu_requests_are_refused_naming_actor_and_shortfall(overrides, needle):
    with pytest.raises(PlacementError) as e:
        plan_resources(real(*overrides), root=ROOT)
    assert any(needle in r for r in e.value.reasons), e.value.reasons


def test_ray_check_counts_tool_worker_gpus():
    from actors.rollout import actor_requests

    req = actor_requests(real(), learner=True)
    tools = next(v for k, v in req.items() if k.startswith("ray.tool_cpus"))
    assert tools == (16.0, 1.0)  # 4 workers x 4 CPUs, 4 x 0.25 GPU
    assert sum(g for _, g in req.values()) == pytest.approx(4 * 0.3 + 1.0 + 4.0)


def test_kl_references_apart_get_a_gpu_of_their_own_and_the_learner_its_devices():
    from m1.resources import reference_demand

    plan = plan_resources(real(), root=ROOT)  # kl_coef 0.001, cluster.reference_apart
    refs = [g for g in plan.gpus if any(a.startswith("reference:") for a, _ in g.actors)]
    assert len(refs) == 1 and all(a.startswith("reference:") for a, _ in refs[0].actors)
    assert not any("reference" in d.parts for d in plan.demands if d.actor.startswith("learner:"))
    arch = load_architecture(MODELS / "qwen3-8b.json")
    d = reference_demand("qwen3-8b", arch, real())
    assert d.parts["weights"] == pytest.approx(8_190_735_360 * 2 / GB)           # bf16 copy, no grads/AdamW
    assert d.parts["logits"] == pytest.approx(1024 * 151_936 * 6 / GB)          # 1,024 tokens x vocab x (2 + 4) B
    names = [a.name for a in real().team.agents]
    learners, references = plan.learner_devices(names)
    assert learners == ["cuda:2", "cuda:1", "cuda:2", "cuda:0"] and set(references) == {"cuda:3"}
    beside = plan_resources(real("cluster.reference_apart=false", "cluster.gpu_memory_gb=141"), root=ROOT)
    assert beside.learner_devices(names)[0] == beside.learner_devices(names)[1]  # reference on its learner's GPU
