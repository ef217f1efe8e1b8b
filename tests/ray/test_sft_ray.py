"""End to end on a local Ray: a small rendered M1-Synth split, oracle annotation through the CPP
loop (jobs/annotate.py), SFT of a two-agent tiny team as parallel Ray tasks (jobs/sft.py), then
a resumed re-run, a run that holds out questions and chooses the summariser on them, and the trained team
loads and runs an episode."""

import json

import pytest
import torch

from m1.checkpoint import TeamDir, agent_dir, load_agent
from m1.config import AgentSpec, TeamConfig, load_config
from m1.evaluation.summariser import pick

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["synth.width=320", "synth.height=180", "synth.min_duration=10", "synth.max_duration=14",
        "synth.min_object_size=16", "synth.max_object_size=40", "ray.num_cpus=2", "sft.train_videos=1",
        "sft.max_steps=4", "sft.batch_tokens=2048", "sft.checkpoint_every=2", "sft.log_every=1",
        "cpp.plan_tokens=24", "cpp.revision_tokens=8", "cpp.answer_tokens=8"]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    c = load_config(overrides=[*TINY, f"output_dir={tmp_path_factory.mktemp('sft')}"])
    c.team = TeamConfig(vocab_size=600, agents=[
        AgentSpec(name="q2", arch="qwen2", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                  intermediate_size=64, max_context=1024),
        AgentSpec(name="q3", arch="qwen3", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                  intermediate_size=64, max_context=1024)])
    return c


def test_annotate_then_sft_on_ray_then_resume(cfg):
    from actors import init_ray
    from jobs import annotate, sft

    torch.set_num_threads(1)
    manifest = annotate.main(cfg)
    assert manifest["questions"] >= 4 and manifest["yield"]["all"]["kept"] >= 1
    assert manifest["answer_prompts_without_candidate"] < 0.5
    # the oracle with exact tools answers its own training questions well (the solver's level)
    scores = manifest["teacher_team_score"]
    assert set(scores) == set(manifest["yield"]) and scores["all"] >= 0.6, scores
    ray = init_ray(num_cpus=2)
    try:
        summary = sft.main(cfg)
        assert summary["use_ray"] and [a["agent"] for a in summary["agents"]] == ["q2", "q3"]
        assert all(a["steps"] == 4 and not a["resumed"] for a in summary["agents"])
        out = annotate.sft_paths(cfg)
        for spec in cfg.team.agents:
            trained, _ = load_agent(out["team_out"] / spec.name)
            base, _ = load_agent(agent_dir(out["team_dir"], spec))
            assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(),
                                                              base.state_dict().values(), strict=True))
            recs = (out["runs"] / spec.name / "metrics.jsonl").read_text().splitlines()
            assert [json.loads(r)["step"] for r in recs] == [1, 2, 3, 4]
        assert (out["out"] / "loss.png").stat().st_size > 1000
        again = sft.main(cfg)  # every agent resumes from its final checkpoint: nothing to redo
        assert all(a["resumed"] and a["steps"] == 4 for a in again["agents"])
        # whole questions held out for validation loss: every agent measures it and exports its best step
        # and they choose the team's summariser: each agent alone on them, the best stored in team.json
        held = cfg.model_copy(update={"sft": cfg.sft.model_copy(update={
            "val_fraction": 0.3, "eval_every": 2, "out_dir": str(out["out"].parent / "sft_val"),
            "choose_summariser": True})})
        val = sft.main(held)
        assert val["val_questions"] >= 1
        assert all(a["val_examples"] >= 1 and a["best_step"] in (2, 4) for a in val["agents"])
        choice = TeamDir(val["team"]).summariser_choice()
        assert choice["split"] == "sft-val" and choice["questions"] == val["val_questions"]
        assert set(choice["scores"]) == {"q2", "q3"} and choice["agent"] == pick(choice["scores"])
        assert val["summariser"]["agent"] == choice["agent"]
        preds = out["out"].parent / "sft_val" / "summariser_eval"
        assert all(len((preds / n / "predictions.jsonl").read_text().splitlines()) == val["val_questions"]
                   for n in ("q2", "q3"))
        # a rerun chooses again from scratch instead of resuming answers that earlier weights gave
        (preds / "q2" / "predictions.jsonl").write_text("not a prediction\n")
        assert sft.main(held)["summariser"]["agent"] == choice["agent"]
        assert len((preds / "q2" / "predictions.jsonl").read_text().splitlines()) == val["val_questions"]
    finally:
        ray.shutdown()
    from m1.synth import read_split
    from m1.team.cpp import LocalTeam, ToolRunner, run_episode
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue

    team = LocalTeam.from_dir(str(out["team_out"]), cfg.team)
    q = read_split(out["data_dir"])[0]
    ep = run_episode(q, team, ToolRunner(cfg.tools, cfg.video), complete_topology(2), catalogue(), cfg.cpp)
    assert [a.name for a in ep.agents] == ["q2", "q3"] and all(a.turns for a in ep.agents)
