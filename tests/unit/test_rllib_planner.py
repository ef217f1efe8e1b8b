"""The RLlib planner baseline (baselines/): the environment RLlib's checker accepts, its determinism,
rewards that are the project's scorer's, the lookup equal to the reference solver, a PPO smoke run.

``tests/fixtures/planner_cache.jsonl`` is real tool output: ``python -m baselines.rllib_planner cache``
on a 2-video M1-Synth test split (seed 3, the tiny settings of ``TINY`` below; 16 questions); the
environment never opens the videos. ``planner_cache_noisy.jsonl``: the same split cached with
``--config configs/noisy.yaml --rereads`` (noisy tools, with the re-readings of the re-read action).
``planner_cache_open.jsonl``: the open-ended questions of the same tiny settings' split with
``synth.open_ended=true`` (4 questions), cached with ``--config configs/noisy_hard.yaml --rereads
--families open_ended`` (issue 20's hard setting).
``test_the_lookup_is_the_reference_solver`` rebuilds such a cache from a freshly generated video and
checks it against :func:`m1.tools.solver.solve`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from baselines.rllib_env import CONFIDENT, KEEP, MAJORITY, NUM_ACTIONS, REREAD, PlannerEnv  # noqa: E402
from baselines.rllib_planner import main, play, scripted, summarise  # noqa: E402
from baselines.skeletons import SKELETONS, CacheError, load_cache, reference_skeleton  # noqa: E402
from m1.config.rl import RewardConfig  # noqa: E402
from m1.data.scoring import score_question  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "planner_cache.jsonl"
NOISY = FIXTURE.with_name("planner_cache_noisy.jsonl")
OPEN = FIXTURE.with_name("planner_cache_open.jsonl")
TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
SK = {s.name: i for i, s in enumerate(SKELETONS)}


@pytest.fixture(scope="module")
def caches():
    return load_cache(FIXTURE)


def test_rllibs_env_checker_accepts_the_environment(caches):
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = PlannerEnv({"caches": caches, "seed": 0})
    check_multiagent_environments(env)  # raises on any violation of the MultiAgentEnv API
    obs, _ = env.reset(seed=1)
    assert set(obs) == set(env.possible_agents) == {"a0", "a1", "a2"}
    for phase in range(2):
        assert all(env.observation_spaces[a].contains(o) for a, o in obs.items()), phase
        obs, rew, term, trunc, _ = env.step({a: env.action_spaces[a].sample() for a in env.agents})
    assert term["__all__"] and not trunc["__all__"]
    assert all(env.observation_spaces[a].contains(o) for a, o in obs.items())
    assert all(isinstance(r, float) for r in rew.values())


def _rollouts(seed: int, n: int, caches) -> list:
    env = PlannerEnv({"caches": caches, "seed": seed})
    rng = np.random.default_rng(seed)
    out = []
    for e in range(n):
        obs, _ = env.reset(seed=seed if e == 0 else None)
        trace = [next(iter(obs.values())).tolist()]
        for _ in range(2):
            obs, rew, _, _, info = env.step({a: int(rng.integers(NUM_ACTIONS)) for a in env.agents})
        trace += [sorted(rew.items()), info["a0"]["qid"], info["a0"]["team_answer"]]
        out.append(trace)
    return out


def test_a_seed_fixes_the_episodes(caches):
    assert _rollouts(5, 12, caches) == _rollouts(5, 12, caches)
    assert [t[2] for t in _rollouts(5, 12, caches)] != [t[2] for t in _rollouts(6, 12, caches)]


@pytest.mark.parametrize("outcome", ["team", "agent", "mixed"])
def test_rewards_are_the_projects_outcome_reward(caches, outcome):
    cfg = RewardConfig(outcome=outcome, frame_cost=0.01)
    env = PlannerEnv({"caches": caches, "reward": {"outcome": outcome, "frame_cost": 0.01}})
    picks = [SK["fine"], SK["spatial"], SK["grounding"]]
    for i, c in enumerate(caches):
        env.reset(options={"index": i})
        env.step(dict(zip(env.agents, picks, strict=True)))
        _, rew, _, _, info = env.step({a: KEEP for a in env.agents})
        q = c.question
        own = [c.outcome(SKELETONS[k].tools) for k in picks]
        team = info["a0"]["team_answer"]
        team_s = score_question(q, team).score
        assert info["a0"]["score"] == team_s
        paid: set[int] = set()
        for j, a in enumerate(env.agents):
            own_s = score_question(q, own[j][0]).score
            s = {"team": team_s, "agent": own_s, "mixed": (team_s + own_s) / 2}[outcome]
            new = own[j][2] - paid
            paid |= new
            assert rew[a] == pytest.approx(cfg.wrong + (cfg.correct - cfg.wrong) * s - cfg.frame_cost * len(new))
        # the team pays frame_cost x the episode's distinct frames, as m1.train.rewards charges it
        no_cost = cfg.wrong + (cfg.correct - cfg.wrong) * np.array(
            [{"team": team_s, "agent": score_question(q, o[0]).score,
              "mixed": (team_s + score_question(q, o[0]).score) / 2}[outcome] for o in own])
        assert sum(no_cost) - sum(rew.values()) == pytest.approx(0.01 * info["a0"]["frames"])


def test_revision_actions_adopt_the_teams_answers(caches):
    # a spatial direction question on which fine_browser says A (conf 0.11) and spatial says B (conf 0.9)
    i, c = next((i, c) for i, c in enumerate(caches) if c.question.category == "object_rel_direction_medium")
    assert (c.calls["fine_browser"].answer, c.calls["spatial"].answer) == ("A", "B")
    env = PlannerEnv({"caches": caches})
    env.reset(options={"index": i})
    obs, *_ = env.step({"a0": SK["fine"], "a1": SK["fine"], "a2": SK["spatial"]})
    assert (obs["a0"][-6], obs["a0"][-5]) == (0.5, 1.0)  # half the others agree; holds the majority answer
    assert (obs["a2"][-6], obs["a2"][-5]) == (0.0, 0.0)
    _, _, _, _, info = env.step({"a0": CONFIDENT, "a1": KEEP, "a2": MAJORITY})
    assert [info[a]["answer"] for a in env.agents] == ["B", "A", "A"]
    env.reset(options={"index": i})
    env.step({"a0": SK["fine"], "a1": SK["fine"], "a2": NUM_ACTIONS - 1})  # no plan at phase 0: no answer
    _, _, _, _, info = env.step({"a0": KEEP, "a1": KEEP, "a2": SK["spatial"]})  # re-plan
    assert [info[a]["answer"] for a in env.agents] == ["A", "A", "B"]
    assert info["a0"]["team_answer"] == "A" and info["a0"]["score"] == 0.0  # the vote overrules the right one


def test_the_scripted_systems(caches):
    solver = play(caches, scripted("solver"))
    for row, c in zip(solver, caches, strict=True):
        ans = c.outcome(SKELETONS[reference_skeleton(c.question)].tools)[0]
        assert row["score"] == score_question(c.question, ans).score
    oracle = play(caches, scripted("oracle"))
    rand = play(caches, scripted("random", seed=1))
    assert all(o["score"] >= max(s["score"], r["score"]) for o, s, r in zip(oracle, solver, rand, strict=True))
    summary = summarise({"solver": solver, "oracle": oracle})
    assert summary["solver"]["all"]["score"] == pytest.approx(np.mean([r["score"] for r in solver]))
    d, lo, hi = summary["oracle"]["all"]["vs_solver"]
    assert d >= 0 and lo <= d <= hi


def test_bad_input_is_a_clear_error(caches, tmp_path):
    with pytest.raises(CacheError, match="no cache file"):
        load_cache(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(CacheError, match="bad.jsonl:1"):
        load_cache(bad)
    line = json.loads(FIXTURE.read_text().splitlines()[0])
    del line["calls"]["spatial"]
    bad.write_text(json.dumps(line) + "\n")
    with pytest.raises(CacheError, match="lacks calls"):
        load_cache(bad)
    env = PlannerEnv({"caches": caches})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step({a: NUM_ACTIONS for a in env.agents})
    with pytest.raises(ValueError, match="caches"):
        PlannerEnv({})
    with pytest.raises(SystemExit, match="--families 'opem_ended'"):
        main(["cache", "--split", str(tmp_path), "--out", str(tmp_path / "c.jsonl"), "--families", "opem_ended"])


def test_with_rereadings_the_env_has_a_reread_action_that_is_the_solvers_verify():
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    from baselines.skeletons import REREAD_TOOLS, QuestionCache

    noisy = load_cache(NOISY)
    env = PlannerEnv({"caches": noisy, "seed": 0})
    assert env.rereads and env.num_actions == NUM_ACTIONS + 1 == REREAD + 1
    check_multiagent_environments(env)
    assert not PlannerEnv({"caches": load_cache(FIXTURE)}).rereads  # exact-tool caches: the action set as before
    with pytest.raises(ValueError, match="--rereads"):
        PlannerEnv({"caches": load_cache(FIXTURE), "rereads": True})
    solver, verify = play(noisy, scripted("solver")), play(noisy, scripted("solver_verify"))
    changed = 0
    for c, one, two in zip(noisy, solver, verify, strict=True):
        tool = SKELETONS[reference_skeleton(c.question)].tools[-1]
        assert tool in REREAD_TOOLS
        answer, _, first_frames = c.outcome(SKELETONS[reference_skeleton(c.question)].tools)
        calls = {tool: c.calls[tool]} | {k: v for k, v in c.calls.items() if k.startswith(tool + "@")}
        readings = [v.answer for v in calls.values()]
        # a re-read never costs fewer frames, and it changes the answer only where the readings disagree
        assert two["frames"] >= one["frames"]
        if len(set(readings)) == 1:
            assert two["team_answer"] == one["team_answer"]
        changed += two["team_answer"] != one["team_answer"]
    assert changed >= 2  # the fixture holds questions where the noisy readings disagree and re-reading decides
    # a question without a question-aware call keeps its answer when it "re-reads"
    only_global = QuestionCache(noisy[0].question, noisy[0].calls)
    env = PlannerEnv({"caches": [only_global], "num_agents": 1})
    env.reset(options={"index": 0})
    global_skel = next(i for i, s in enumerate(SKELETONS) if s.tools == ("global_sampling",))
    env.step({"a0": global_skel})
    before = env._answers[0]
    env.step({"a0": REREAD})
    assert env._answers[0] == before


def test_open_ended_lists_are_voted_item_by_item_by_the_team_and_by_a_re_read():
    """The hard open-ended setting: the team's answer to a list is the item vote over the agents' lists
    (cpp.open_ended_aggregation's default), and a re-read whose readings disagree votes them item by item."""
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    from m1.team.answers import vote_items

    caches = load_cache(OPEN)
    assert {c.question.category for c in caches} >= {"objects_at", "caption_sequence"}
    env = PlannerEnv({"caches": caches, "seed": 0})
    assert env.rereads
    check_multiagent_environments(env)
    i, c = next((i, c) for i, c in enumerate(caches) if c.question.qid == "m1s-test-00000-open_ended-0")
    fine = [c.calls[k].answer for k in ("fine_browser", "fine_browser@1.25", "fine_browser@0.8")]
    assert len(set(fine)) == 3  # three different readings of the objects on screen
    reread = vote_items(fine, "set")
    assert reread == "cyan triangle, white circle" and reread not in fine
    env.reset(options={"index": i})
    env.step({"a0": SK["fine"], "a1": SK["fine"], "a2": SK["spatial"]})
    _, _, _, _, info = env.step({"a0": KEEP, "a1": REREAD, "a2": KEEP})
    answers = [info[a]["answer"] for a in env.agents]
    assert answers == [fine[0], reread, c.calls["spatial"].answer]
    # the summariser (the last agent) first, then the others in order
    assert info["a0"]["team_answer"] == vote_items([answers[2], answers[0], answers[1]], "set")
    assert info["a0"]["method"] == "item_vote"
    assert info["a0"]["score"] == score_question(c.question, info["a0"]["team_answer"]).score
    assert score_question(c.question, reread).score > score_question(c.question, fine[0]).score
    # readings that agree exactly are kept as they are: the solver's rule
    one, two = play(caches, scripted("solver")), play(caches, scripted("solver_verify"))
    for c, a, b in zip(caches, one, two, strict=True):
        first, second = c.calls["fine_browser"].answer, c.calls["fine_browser@1.25"].answer
        if first == second:
            assert a["team_answer"] == b["team_answer"], c.question.qid


def test_the_command_line_has_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0 and "--iterations" in capsys.readouterr().out


@pytest.mark.slow
def test_the_lookup_is_the_reference_solver(tmp_path):
    from baselines.skeletons import precompute
    from m1.config import load_config
    from m1.synth import generate_split, read_split
    from m1.tools.solver import solve

    generate_split(load_config(overrides=TINY).synth, tmp_path, "test", 1, seed=4, progress=False)
    qs = read_split(tmp_path / "test")
    for c in precompute(qs):
        sol = solve(c.question)
        ans, _, frames = c.outcome(SKELETONS[reference_skeleton(c.question)].tools)
        scored = (score_question(c.question, ans).score, score_question(c.question, sol.answer).score)
        assert scored[0] == scored[1] and len(frames) == sol.frames_used, (c.question.qid, ans, sol.answer)


@pytest.mark.slow
def test_the_reread_lookup_is_the_solvers_verify_strategy(tmp_path):
    from baselines.skeletons import precompute
    from m1.config import load_config
    from m1.synth import generate_split, read_split
    from m1.tools.solver import solve

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "noisy.yaml", overrides=TINY)
    generate_split(cfg.synth, tmp_path, "test", 2, seed=4, progress=False)
    caches = list(precompute(read_split(tmp_path / "test"), cfg.tools, rereads=True))
    rows = play(caches, scripted("solver_verify"))
    for c, row in zip(caches, rows, strict=True):
        sol = solve(c.question, cfg.tools, strategy="verify")
        assert row["score"] == score_question(c.question, sol.answer).score, (c.question.qid, row, sol.answer)
        assert row["frames"] == sol.frames_used, c.question.qid


@pytest.mark.slow
def test_ppo_trains_and_plays_greedily(caches, tmp_path):
    import ray

    from baselines.rllib_planner import module_policy, train_ppo

    try:
        algo, curve = train_ppo(caches, 2, log=lambda s: None, batch=64, minibatch=32, epochs=1, hidden=16)
        assert [r["iteration"] for r in curve] == [1, 2] and curve[-1]["env_steps"] >= 128
        ppo = play(caches, module_policy({f"p{i}": algo.get_module(f"p{i}") for i in range(3)}, lambda j: f"p{j}"))
        assert len(ppo) == len(caches) and all(0 <= r["score"] <= 1 for r in ppo)
        again = play(caches, module_policy({f"p{i}": algo.get_module(f"p{i}") for i in range(3)}, lambda j: f"p{j}"))
        assert ppo == again  # greedy play is deterministic
        ckpt = algo.save_to_path(str(tmp_path / "run" / "checkpoint"))  # where `train --out run` saves
        algo.stop()
        # the eval command reloads the RLModules from the checkpoint and plays the same greedy episodes;
        # --checkpoint names the train run's --out directory or the checkpoint in it
        assert main(["eval", "--train", str(FIXTURE), "--eval", str(FIXTURE), "--checkpoint", str(ckpt),
                     "--out", str(tmp_path / "eval")]) == 0
        assert main(["eval", "--train", str(FIXTURE), "--eval", str(FIXTURE), "--checkpoint", str(tmp_path / "run"),
                     "--out", str(tmp_path / "eval_run")]) == 0
        episodes = [(tmp_path / d / "episodes.jsonl").read_text() for d in ("eval", "eval_run")]
        assert episodes[0] == episodes[1]
        with pytest.raises(SystemExit, match="holds 3 agents' policies.*pass --num-agents 3"):
            main(["eval", "--train", str(FIXTURE), "--eval", str(FIXTURE), "--checkpoint", str(ckpt),
                  "--num-agents", "2", "--out", str(tmp_path / "eval2")])
        with pytest.raises(SystemExit, match="no trained policies there"):
            main(["eval", "--train", str(FIXTURE), "--eval", str(FIXTURE), "--checkpoint", str(tmp_path),
                  "--out", str(tmp_path / "eval3")])
        rows = [json.loads(x) for x in (tmp_path / "eval" / "episodes.jsonl").read_text().splitlines()]
        assert [r["score"] for r in rows if r["system"] == "ppo"] == [r["score"] for r in ppo]
        assert [r["actions"] for r in rows if r["system"] == "ppo"] == [r["actions"] for r in ppo]
        report = json.loads((tmp_path / "eval" / "report.json").read_text())
        assert set(report["summary"]) == {"solver", "random", "best_per_family", "oracle", "ppo"}
    finally:
        ray.shutdown()
