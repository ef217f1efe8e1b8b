"""A team remembers the tool catalogue its prompts carried in training, and loading it where the
catalogue rendered now differs warns (PromptFormatWarning): a tiny model trained from scratch reads
the catalogue as part of its prompt, and a team trained before the `step` argument wrote its plans
malformed after it."""

import json
import warnings

import pytest

from m1.checkpoint import TeamDir
from m1.config import TeamConfig
from m1.models import (
    PROMPTS_KEY,
    PromptFormatWarning,
    catalogue_lines,
    check_prompt_format,
    dataset_catalogue,
    trained_catalogue,
)
from m1.schema import Question, TaskType
from m1.team.plan import PromptLimits, render_plan_prompt
from m1.tools.registry import catalogue

Q = Question(qid="q", video="/v.mp4", question="What colour?", options=["red", "green"], answer="A",
             task_type=TaskType.MULTIPLE_CHOICE)


def _dataset(path, lines):
    """An SFT data set whose plan prompt carries ``lines`` as its catalogue (rendered, then edited)."""
    prompt = render_plan_prompt(Q, catalogue(), PromptLimits(max_context=4096))
    prompt = prompt.replace("\n".join(catalogue_lines()), "\n".join(lines))
    path.mkdir(parents=True)
    (path / "examples.jsonl").write_text(
        json.dumps({"agent": "a", "kind": "answer", "prompt": "#answer\nQ: ?", "completion": "A"}) + "\n"
        + json.dumps({"agent": "a", "kind": "plan", "prompt": prompt, "completion": "1. fine_browser {}"}) + "\n")
    return path


def _team(path, **provenance):
    TeamDir(path).write_manifest(TeamConfig(), seed=0, **provenance)
    return path


def test_the_catalogue_is_read_from_a_rendered_plan_prompt(tmp_path):
    assert dataset_catalogue(_dataset(tmp_path / "data", catalogue_lines())) == catalogue_lines()
    assert dataset_catalogue(tmp_path / "none") is None


def test_a_team_trained_on_another_catalogue_warns(tmp_path):
    old = [line.replace(", step?:num", "") for line in catalogue_lines()]
    assert old != catalogue_lines()  # the change that broke the teams trained before it
    sft = _team(tmp_path / "sft", sft={"dataset": str(_dataset(tmp_path / "old", old))})
    marl = _team(tmp_path / "marl", marl={"from": str(sft), "steps": 8})  # written before the record existed
    for team in (sft, marl):
        assert trained_catalogue(team) == old
        with pytest.warns(PromptFormatWarning, match="another tool catalogue.*fine_browser"):
            assert not check_prompt_format(team)
    current = _team(tmp_path / "now", marl={"from": str(sft), "steps": 8}, **{PROMPTS_KEY: catalogue_lines()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_prompt_format(current)  # its own record wins over its start team's data
        assert check_prompt_format(_team(tmp_path / "untrained"))  # unknown: nothing to compare
        assert check_prompt_format(_team(tmp_path / "gone", sft={"dataset": str(tmp_path / "deleted")}))


def test_loading_the_team_for_episodes_warns(tmp_path):
    from actors.rollout import build_backends
    from m1.config import load_config
    from m1.models import init_team

    cfg = load_config()
    init_team(cfg.team, tmp_path / "team", seed=0)
    body = TeamDir(tmp_path / "team").manifest()
    body[PROMPTS_KEY] = catalogue_lines()[:-1]  # trained before the last tool existed
    TeamDir(tmp_path / "team").manifest_path.write_text(json.dumps(body))
    with pytest.warns(PromptFormatWarning, match="lines then"):
        build_backends(cfg, tmp_path / "team", use_ray=False)
