"""The MARL loop in-process: data order, topologies, a full step, exact resume, plots."""

import json

import pytest

from m1.config import load_config
from m1.schema import Question, TaskType
from m1.train.marl import MARLTrainer, batch_questions, plot_metrics, rollout_topology

TINY_TEAM = [
    "team.agents=[{name: a, arch: qwen2, hidden_size: 32, num_layers: 1, num_heads: 2, num_kv_heads: 1, "
    "head_dim: 16, intermediate_size: 64, max_context: 1024}, {name: b, arch: qwen3, hidden_size: 32, "
    "num_layers: 1, num_heads: 2, num_kv_heads: 1, head_dim: 16, intermediate_size: 64, max_context: 1024}]",
    "team.vocab_size=400", "cpp.plan_tokens=12", "cpp.revision_tokens=6", "cpp.answer_tokens=6",
    "cpp.max_rounds=2", "grpo.group_size=2", "grpo.kl_coef=0.05", "grpo.lr=0.001", "marl.questions_per_step=2",
    "marl.use_ray=false", "marl.checkpoint_every=1",
]
TINY_VIDEO = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
              "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


def _qs(n):
    return [Question(qid=f"q{i}", video="v", question="?", task_type=TaskType.NUMERIC, answer="1") for i in range(n)]


def test_batches_are_seeded_epoch_permutations():
    qs = _qs(5)
    steps = [batch_questions(qs, 0, s, 2) for s in range(5)]  # 10 positions = 2 epochs
    ids = [q.qid for b in steps for q in b]
    assert sorted(ids[:5]) == sorted(ids[5:]) == [f"q{i}" for i in range(5)]
    assert batch_questions(qs, 0, 3, 2) == steps[3] and batch_questions(qs, 1, 0, 5) != steps[0] + steps[1][:3]
    with pytest.raises(ValueError, match="no training questions"):
        batch_questions([], 0, 0, 1)


def test_rollout_topologies_follow_the_dropout_switch():
    cfg = load_config(overrides=["grpo.dropout=0.5"])
    topos = [rollout_topology(cfg, 4, 0, 0, g) for g in range(30)]
    assert all(t.kind == "dag" and t.is_acyclic() for t in topos) and len({t for t in topos}) > 5
    assert any(len(t.active_agents) < 4 for t in topos)
    off = load_config(overrides=["grpo.agent_dropout=false"])
    assert rollout_topology(off, 4, 0, 0, 0).kind == "complete"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from m1.models import init_team
    from m1.synth import generate_split, read_split

    root = tmp_path_factory.mktemp("marl")
    cfg = load_config(overrides=TINY_TEAM + TINY_VIDEO)
    generate_split(cfg.synth, root / "data", "train", 1, seed=2, progress=False)
    init_team(cfg.team, root / "team", seed=0)
    return cfg, read_split(root / "data" / "train")[:4], root


def _trainer(cfg, qs, team_dir, out, learner_team=None):
    from actors.rollout import build_backends
    from m1.checkpoint import agent_dir
    from m1.team.rollout import RolloutDriver
    from m1.tools.registry import catalogue
    from m1.train.learner import TeamLearner

    b = build_backends(cfg, team_dir, use_ray=False)
    learner = TeamLearner.from_dirs([agent_dir(learner_team or team_dir, a) for a in cfg.team.agents], cfg.grpo,
                                    seed=cfg.seed)
    return MARLTrainer(cfg, qs, RolloutDriver(b, catalogue(), cfg, cfg.sampling.train), learner, out)


@pytest.mark.slow
def test_resume_repeats_exactly_the_uninterrupted_steps(setup, tmp_path):
    cfg, qs, root = setup
    # several optimiser steps per batch (2 passes x 2 mini-batches, seeded shuffles) resume exactly too
    cfg = cfg.model_copy(update={"marl": cfg.marl.model_copy(update={"steps": 3}),
                                 "grpo": cfg.grpo.model_copy(update={"ppo_epochs": 2, "mini_batches": 2})})
    straight = _trainer(cfg, qs, root / "team", tmp_path / "a").run(progress=False)
    assert [r["step"] for r in straight] == [1, 2, 3] and all(r["samples"] > 0 for r in straight)
    assert all({f"time_sync/{a.name}" for a in cfg.team.agents} <= set(r) for r in straight)  # per agent
    # interrupted after step 1 (a checkpoint every step), then resumed by a fresh trainer
    one = cfg.model_copy(update={"marl": cfg.marl.model_copy(update={"steps": 1})})
    _trainer(one, qs, root / "team", tmp_path / "b").run(progress=False)
    resumed = _trainer(cfg, qs, root / "team", tmp_path / "b")
    rest = resumed.run(progress=False)
    assert [r["step"] for r in rest] == [2, 3]
    volatile = {"tokens_per_s", "time_rollout", "time_tools", "time_learner", "time_sync",
                "time_learner_and_next_rollouts", "peak_rss_gb", "peak_cuda_gb"}
    strip = lambda rs: [{k: v for k, v in r.items() if k not in volatile and not k.startswith("time_sync/")}  # noqa: E731
                        for r in rs]
    assert strip(rest) == strip(straight[1:])
    logged = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3]
    # a run stopped before its first checkpoint left log lines: a fresh start replaces them
    stale = tmp_path / "c"
    stale.mkdir()
    (stale / "metrics.jsonl").write_text('{"step": 1, "accuracy": 0.5}\n{"step": 2, "accuracy": 0.5}\n')
    again = _trainer(one, qs, root / "team", stale).run(progress=False)
    lines = [json.loads(x) for x in (stale / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1] and lines[0]["samples"] == again[0]["samples"]
    assert all(r["peak_rss_gb"] > 0 for r in rest)
    png = plot_metrics(tmp_path / "b" / "metrics.jsonl", tmp_path / "curves.png")
    assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_off_policy_overlap_is_one_step_stale_and_resumes_exactly(setup, tmp_path):
    from m1.team.trace import Episode

    cfg, qs, root = setup
    cfg = cfg.model_copy(update={"marl": cfg.marl.model_copy(update={"steps": 3, "off_policy": True})})
    straight = _trainer(cfg, qs, root / "team", tmp_path / "a").run(progress=False)
    assert [r["staleness"] for r in straight] == [0, 1, 1]  # step 1 samples itself; later ones were sampled ahead
    # interrupted after step 1: the checkpoint holds the episodes sampled ahead for step 2. The
    # learner starts from other weights (team seed 1) than the engines (seed 0), so the first sync
    # changes the engines whatever the gradient: episodes sampled after it would differ.
    from m1.models import init_team

    other = tmp_path / "other_team"
    init_team(cfg.team, other, seed=1)
    first = _trainer(cfg, qs, root / "team", tmp_path / "b", learner_team=other)
    first._log(first.train_step())
    first.save()
    pending = [Episode.model_validate(e) for e in
               json.loads((tmp_path / "b" / "checkpoint" / "pending.json").read_text())]
    lps = lambda eps: [t.logprobs for e in eps for a in e.agents for t in a.turns]  # noqa: E731
    initial = _trainer(cfg, qs, root / "team", tmp_path / "i")
    synced = _trainer(cfg, qs, other, tmp_path / "s")
    assert lps(pending) == lps(initial.driver.run(initial.rollout_jobs(1)))  # sampled before update 1 arrived
    assert lps(pending) != lps(synced.driver.run(synced.rollout_jobs(1)))  # not by the weights synced after it
    assert len(lps(pending)) > 0
    straight_b = _trainer(cfg, qs, root / "team", tmp_path / "ab", learner_team=other).run(progress=False)
    rest = _trainer(cfg, qs, root / "team", tmp_path / "b", learner_team=other).run(progress=False)
    assert [r["step"] for r in rest] == [2, 3]
    volatile = {"tokens_per_s", "time_rollout", "time_tools", "time_learner", "time_sync",
                "time_learner_and_next_rollouts", "peak_rss_gb", "peak_cuda_gb"}
    strip = lambda rs: [{k: v for k, v in r.items() if k not in volatile and not k.startswith("time_sync/")}  # noqa: E731
                        for r in rs]
    assert strip(rest) == strip(straight_b[1:])


def test_marl_families_trains_and_evaluates_on_those_questions_only(setup, tmp_path):
    """``marl.families=[open_ended]`` (a team fine-tuned on that family alone): the train and held-out
    splits hold every family, the job rolls out and evaluates the open-ended questions only; a filter
    that keeps nothing is a UserError before anything is built."""
    import jobs.marl as marl
    from m1.errors import UserError
    from m1.synth import generate_split, read_split

    cfg, _, root = setup
    synth = cfg.synth.model_copy(update={"open_ended": True, "questions_per_family": 2, "open_ended_per_video": 2})
    generate_split(synth, tmp_path / "data", "train", 1, seed=3, progress=False)
    qs = read_split(tmp_path / "data" / "train")
    opened = [q for q in qs if q.family == "open_ended"]
    assert opened and len(opened) < len(qs)
    split = tmp_path / "data" / "train"
    run = load_config(overrides=TINY_TEAM + TINY_VIDEO + [
        f"output_dir={tmp_path / 'run'}", f"marl.team_dir={root / 'team'}", f"marl.data_dir={split}",
        f"marl.eval_dir={split}", "marl.families=[open_ended]", "marl.steps=1", "marl.questions_per_step=1"])
    summary = marl.main(run)
    assert summary["families"] == ["open_ended"] and summary["train_questions"] == len(opened)
    assert summary["eval_questions"] == len(opened)
    for scores in (summary["before"], summary["after"]):
        assert [k for k in scores if k.startswith("score/")] == ["score/open_ended"]
    closed = load_config(overrides=TINY_TEAM + [
        f"output_dir={tmp_path / 'none'}", f"marl.data_dir={root / 'data' / 'train'}",
        f"marl.team_dir={root / 'team'}", "marl.families=[open_ended]"])
    with pytest.raises(UserError, match="marl.families"):
        marl.main(closed)
