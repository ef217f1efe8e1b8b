"""Which sampling settings reach the policies: MARL rollouts sample with ``sampling.train``, every
evaluation (MARL's held-out evaluation, ``m1 eval``'s systems, serving) with ``sampling.eval`` —
asserted on the :class:`SamplingSettings` a scripted team receives (no models, no video)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, MC, RecordingTools, ScriptedTeam, fixed  # noqa: E402

from m1.config import SamplingConfig, load_config  # noqa: E402
from m1.engines.base import SamplingSettings  # noqa: E402
from m1.team.cpp import run_episode  # noqa: E402
from m1.team.memory import SharedMemory  # noqa: E402
from m1.team.rollout import Backends, EpisodeJob  # noqa: E402
from m1.team.topology import complete_topology  # noqa: E402


class RecordingTeam(ScriptedTeam):
    """The scripted team of test_cpp, keeping the sampling settings of every request."""

    def __init__(self, scripts):
        super().__init__(scripts)
        self.settings: list[SamplingSettings] = []

    def generate(self, requests):
        self.settings += [r.settings for r in requests]
        return super().generate(requests)


def _team(n=2):
    return RecordingTeam([fixed('1. global_sampling {"n":4}', "B")] * n)


def _backends(team):
    return Backends(team, RecordingTools(), SharedMemory(), on_ray=False)


def _sampled(team):
    """The distinct (temperature, top_p) pairs the team was asked to sample with."""
    assert team.settings, "the team generated nothing"
    return {(s.temperature, s.top_p) for s in team.settings}


def test_defaults_equal_the_old_effective_values():
    cfg = load_config()
    # marl.temperature was 0.7 (top-p 1); cpp.temperature 0, and serving pinned 0
    assert (cfg.sampling.train.temperature, cfg.sampling.train.top_p) == (0.7, 1.0)
    assert (cfg.sampling.eval.temperature, cfg.sampling.eval.top_p) == (0.0, 1.0)


def test_settings_are_the_configured_sampling_plus_per_call_fields():
    s = SamplingSettings.from_config(SamplingConfig(temperature=0.3, top_p=0.8), max_new_tokens=7, seed=5)
    assert (s.temperature, s.top_p, s.max_new_tokens, s.seed, s.stop) == (0.3, 0.8, 7, 5, [])
    assert isinstance(s, SamplingConfig)
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=-1.0)


def test_run_episode_samples_with_what_it_is_given_and_is_greedy_without():
    team = _team()
    run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, seed=0)
    assert _sampled(team) == {(0.0, 1.0)}
    team = _team()
    run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, sampling=SamplingConfig(
        temperature=0.9, top_p=0.5), seed=0)
    assert _sampled(team) == {(0.9, 0.5)}
    # plan, revision and answer turns: each its own seed, all with the same sampling
    assert len({s.seed for s in team.settings}) == len(team.settings) >= 4


def test_marl_rollouts_sample_with_train_and_evaluations_with_eval():
    from jobs.marl import rollout_drivers

    cfg = load_config(overrides=["sampling.train.temperature=0.8", "sampling.train.top_p=0.95"])
    team = _team()
    rollouts, evaluation = rollout_drivers(cfg, _backends(team), CATALOGUE)
    rollouts.run([EpisodeJob(MC, complete_topology(2), seed=s) for s in range(2)])
    assert _sampled(team) == {(0.8, 0.95)}
    team.settings.clear()
    evaluation.run([EpisodeJob(MC, complete_topology(2), seed=0)])
    assert _sampled(team) == {(0.0, 1.0)}


@pytest.mark.parametrize("overrides, want", [([], (0.0, 1.0)), (["sampling.eval.temperature=0.4"], (0.4, 1.0))])
def test_eval_systems_sample_with_eval(overrides, want):
    from m1.evaluation.harness import team_systems

    cfg = load_config(overrides=overrides)
    team = _team(3)
    systems = team_systems(["team", "no_comm", "no_tools"], _backends(team), cfg, "/teams/t")
    for name, system in systems.items():
        team.settings.clear()
        system.predict(MC)
        assert _sampled(team) == {want}, name
    assert systems["no_tools"].settings()["temperature"] == want[0]
    assert systems["team"].settings()["sampling"] == {"temperature": want[0], "top_p": want[1]}


def test_serving_samples_with_eval():
    from m1.serving.service import TeamService, TraceStore

    cfg = load_config(overrides=["serve.thumbnails=0"])
    team = _team()
    service = TeamService(cfg, _backends(team), TraceStore(4))
    service.answer(MC, "v.mp4", 10.0)
    assert _sampled(team) == {(0.0, 1.0)}
    team = _team()
    TeamService(load_config(overrides=["serve.thumbnails=0", "sampling.eval.top_p=0.7"]), _backends(team),
                TraceStore(4)).answer(MC, "v.mp4", 10.0)
    assert _sampled(team) == {(0.0, 0.7)}
