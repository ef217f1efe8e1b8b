"""A team remembers the tool catalogue its prompts carried in training, and is run with that one
where today's differs: a tiny model trained from scratch reads the catalogue as part of its prompt,
and a team trained before the `step` argument wrote its plans malformed under the new lines. Where
the old catalogue cannot be rebuilt from today's tools, loading the team warns (PromptFormatWarning)."""

import json
import warnings

import pytest

from m1.checkpoint import TeamDir
from m1.config import TeamConfig
from m1.models import (
    PROMPTS_KEY,
    PromptFormatWarning,
    catalogue_lines,
    dataset_catalogue,
    team_catalogue,
    trained_catalogue,
)
from m1.schema import Question, TaskType
from m1.team.plan import PlanFormatError, PromptLimits, parse_plan, render_plan_prompt
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


def test_a_team_trained_before_an_argument_existed_renders_the_catalogue_it_was_trained_on(tmp_path, capsys):
    old = [line.replace(", step?:num", "") for line in catalogue_lines()]
    assert old != catalogue_lines()  # the change that broke the teams trained before it
    data = _dataset(tmp_path / "old", old)
    sft = _team(tmp_path / "sft", sft={"dataset": str(data)})
    marl = _team(tmp_path / "marl", marl={"from": str(sft), "steps": 8})  # written before the record existed
    trained_prompt = json.loads((data / "examples.jsonl").read_text().splitlines()[1])["prompt"]
    for team in (sft, marl):
        assert trained_catalogue(team) == old
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            specs = team_catalogue(team)
        assert catalogue_lines(specs) == old
        # the prompt it renders now is, byte for byte, the one it was trained on
        assert render_plan_prompt(Q, specs, PromptLimits(max_context=4096)) == trained_prompt
        assert "older tool catalogue" in capsys.readouterr().err
    # its plans are checked against what it saw: an argument it never learnt is refused
    plan = '1. fine_browser {"start": 0, "end": 4, "step": 2}'
    assert parse_plan(plan, catalogue()).steps[0].args["step"] == 2
    with pytest.raises(PlanFormatError, match="unknown argument 'step'"):
        parse_plan(plan, team_catalogue(sft))
    # its own record wins over its start team's data; unknown history renders today's
    current = _team(tmp_path / "now", marl={"from": str(sft), "steps": 8}, **{PROMPTS_KEY: catalogue_lines()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for team in (current, _team(tmp_path / "untrained"),
                     _team(tmp_path / "gone", sft={"dataset": str(tmp_path / "deleted")})):
            assert catalogue_lines(team_catalogue(team)) == catalogue_lines()


@pytest.mark.parametrize("edit, why", [
    (lambda lines: [*lines, "zoom(factor?:num) Enlarge a region."], "a tool that is gone"),
    (lambda lines: [ln.replace("step?:num", "step?:str") for ln in lines], "an argument whose type changed"),
])
def test_a_catalogue_that_cannot_be_rebuilt_warns_and_renders_todays(tmp_path, edit, why):
    team = _team(tmp_path / "t", **{PROMPTS_KEY: edit(catalogue_lines())})
    with pytest.warns(PromptFormatWarning, match="another tool catalogue.*cannot"):
        assert catalogue_lines(team_catalogue(team)) == catalogue_lines(), why


def test_the_back_ends_carry_the_catalogue_the_team_was_trained_on(tmp_path):
    from actors.rollout import build_backends
    from m1.config import load_config
    from m1.models import init_team

    cfg = load_config()
    init_team(cfg.team, tmp_path / "team", seed=0)
    body = TeamDir(tmp_path / "team").manifest()
    body[PROMPTS_KEY] = catalogue_lines()[:-1]  # trained before the last tool existed
    TeamDir(tmp_path / "team").manifest_path.write_text(json.dumps(body))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = build_backends(cfg, tmp_path / "team", use_ray=False)
    assert catalogue_lines(b.tool_catalogue()) == catalogue_lines()[:-1]
    with pytest.raises(PlanFormatError, match="not one of"):  # it never saw the last tool
        parse_plan(f"1. {catalogue()[-1].name} {{}}", b.tool_catalogue())
