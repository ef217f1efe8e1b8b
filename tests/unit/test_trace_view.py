"""Terminal and HTML renderings of an episode trace."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, MC, RecordingTools, ScriptedTeam, fixed  # noqa: E402

from m1.team.cpp import run_episode  # noqa: E402
from m1.team.topology import complete_topology  # noqa: E402
from m1.team.trace_view import render_html, render_text  # noqa: E402


def _episode():
    team = ScriptedTeam([fixed('1. global_sampling {"n":8}', "B"),
                         fixed('1. grounding {"query":"red"}', "nonsense")])
    return run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, seed=0)


def test_text_timeline_shows_plans_steps_revisions_answers_and_vote():
    text = render_text(_episode())
    lines = text.splitlines()
    assert lines[0] == "Q: What colour?" and "   B. green" in lines
    assert "── agent 0 · agent0" in text and "── agent 1 · agent1 · summariser" in text
    assert '   plan:      1. global_sampling {"n":8}' in text
    assert "   step 1 r1: global_sampling {'n': 8}: global_sampling saw green candidate=B conf=0.9  [2 fr]" in text
    assert "   revise r1: KEEP (read [1])" in text
    assert "   answer:    ✗ bad_answer" in text
    assert "final answer: B (by vote; votes B=1)   ground truth: B" in text
    assert "frames used: 4   tool calls: 2" in text


def test_html_is_standalone_and_escaped():
    ep = _episode()
    ep.question.question = "<script>alert(1)</script>"
    page = render_html(ep)
    assert page.startswith("<!doctype html>") and "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<div class=lane>") == 2 and "read memory entries [1]" in page
    assert "<td>grounding</td>" in page and "http" not in page  # no external assets
