"""M1-Synth's open-ended family: generation, references against the event log, the item-F1 metric,
the scorer/report/reward paths, the loader, the tools on a generated video, and the team's
summariser path with the oracle teacher's annotation."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from m1.config import CPPConfig, SFTConfig
from m1.config.rl import RewardConfig
from m1.config.synth import SynthConfig
from m1.data import load_benchmark, score
from m1.data.metrics import answer_items, answer_parts, item_f1
from m1.data.scoring import aggregate, open_metric, score_question
from m1.evaluation.summary import metric_name
from m1.schema import Family, Question, TaskType, ToolResult
from m1.synth.generate import split_questions, video_log
from m1.synth.open_ended import MOTION_ITEM, OPEN_GENERATORS, generate_open_questions
from m1.synth.world import sample_event_log
from m1.team.cpp import run_episode
from m1.team.topology import complete_topology
from m1.train.rewards import agent_rewards

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, ScriptedTeam, fixed  # noqa: E402

CFG = SynthConfig(open_ended=True, questions_per_family=4)


def oq(answer: str, metric: str = "sequence", qid: str = "o1") -> Question:
    return Question(qid=qid, video="/v.mp4", question="List them.", answer=answer, task_type=TaskType.OPEN_ENDED,
                    family=Family.OPEN_ENDED, category="x", meta={"open_metric": metric})


# ------------------------------------------------------------------------------ the metric


def test_item_f1_hand_written_cases():
    gold = answer_items("moves right, stops, moves up")
    assert gold == ["moves right", "stops", "moves up"]
    assert item_f1(answer_items("Moves right; stops then moves up."), gold, "sequence") == 1.0  # perfect
    assert item_f1(answer_items("moves right, stops"), gold, "sequence") == pytest.approx(0.8)  # partial: 2*2/5
    assert item_f1(answer_items(""), gold, "sequence") == 0.0  # empty
    assert item_f1(None, gold, "sequence") == 0.0
    # wrong order: LCS("up right stops", "right stops up") = 2 → 2*2/6
    assert item_f1(answer_items("moves up, moves right, stops"), gold, "sequence") == pytest.approx(2 / 3)
    assert item_f1(answer_items("moves up, moves right, stops"), gold, "set") == 1.0  # a set ignores order
    assert item_f1(answer_items("stops, stops, stops"), gold, "sequence") == pytest.approx(2 / 6)  # repeats cost
    assert item_f1(answer_items("moves left"), gold, "sequence") == 0.0  # wrong
    assert item_f1([], [], "set") == 1.0
    assert answer_items("The red circle and a blue square") == ["red circle", "blue square"]
    assert answer_items("WANDER, CANDLE") == ["wander", "candle"]  # 'and' splits only as a word
    # each item as written beside the form compared (what an item vote keeps and counts)
    assert answer_parts("The red circle; WANDER.") == [("The red circle", "red circle"), ("WANDER.", "wander")]
    with pytest.raises(ValueError, match="unknown open-ended metric"):
        item_f1(["a"], ["a"], "bag")


def test_the_one_scorer_uses_item_f1_only_for_structured_questions():
    q = oq("blue square, red circle", "set")
    s = score_question(q, "Red circle, blue square")
    assert (s.score, s.parsed) == (1.0, ["red circle", "blue square"])
    assert score_question(q, "red circle").score == pytest.approx(2 / 3)
    assert score_question(q, "").parsed is None and score_question(q, None).missing
    plain = q.model_copy(update={"meta": {}})  # VideoMMMU-style open answer: containment, unchanged
    assert open_metric(plain) is None and score_question(plain, "red circle").score == 0.0
    assert score_question(plain, "it is the blue square, red circle").score == 1.0
    with pytest.raises(ValueError, match="open_metric"):
        score_question(q.model_copy(update={"meta": {"open_metric": "bag"}}), "x")
    assert metric_name(q) == "item F1" and metric_name(plain) == "accuracy"


def test_mixed_report_has_an_open_ended_column_and_breakdown():
    qs = [oq("a, b", qid="o1"), oq("c", "set", qid="o2"),
          Question(qid="m", video="/v.mp4", question="?", options=["x", "y"], answer="A",
                   task_type=TaskType.MULTIPLE_CHOICE, family=Family.LONG_VIDEO)]
    scores = [score_question(q, p) for q, p in zip(qs, ["a, b", "d", "A"], strict=True)]
    rep = aggregate("mixed", qs, scores)
    assert rep["by_family"] == {"open_ended": 50.0, "long_video": 100.0}
    assert rep["open_ended"] == {"item_F1": 50.0, "exact": 50.0}


def test_reward_outcome_is_item_f1():
    q = oq("moves right, stops, moves up")
    # two agents: the summariser (last) says the whole sequence, the other half of it
    ep = run_episode(q, ScriptedTeam([fixed("1. fine_browser {}", "moves right, stops"),
                                      fixed("1. fine_browser {}", "moves right, stops, moves up")]),
                     _NoTools(), complete_topology(2), CATALOGUE, CPPConfig(), seed=0)
    cfg = RewardConfig()
    r = agent_rewards(ep, cfg)
    team = 1.0  # the final answer is the summariser's
    for rew, own in zip(r, (0.8, 1.0), strict=True):
        assert rew.outcome == pytest.approx(cfg.wrong + (cfg.correct - cfg.wrong) * (team + own) / 2)


class _NoTools:
    def run(self, episode_id, question, calls):
        return [ToolResult(tool=c.tool, args=c.args, text="looked") for c in calls]

    def end(self, episode_id):
        pass


def test_open_ended_lists_are_voted_item_by_item_or_under_the_paper_s_rule_the_summariser_s():
    q = oq("moves right, stops")
    scripts = [fixed("1. fine_browser {}", "moves left"), fixed("1. fine_browser {}", "moves left"),
               fixed("1. fine_browser {}", "moves right, stops")]
    paper = CPPConfig(open_ended_aggregation="summariser")  # the paper's rule; the default votes items
    ep = run_episode(q, ScriptedTeam(scripts), _NoTools(), complete_topology(3), CATALOGUE, paper, seed=0)
    assert ep.summariser == 2 and ep.aggregation == "summariser" and ep.final_answer == "moves right, stops"
    chosen = run_episode(q, ScriptedTeam(scripts), _NoTools(), complete_topology(3), CATALOGUE,
                         paper.model_copy(update={"summariser": "agent0"}), seed=0)
    assert chosen.summariser == 0 and chosen.final_answer == "moves left"
    # the default: two agents' one-item list outvotes the summariser's (m1.team.answers.vote_items)
    voted = run_episode(q, ScriptedTeam(scripts), _NoTools(), complete_topology(3), CATALOGUE, CPPConfig(), seed=0)
    assert voted.aggregation == "item_vote" and voted.final_answer == "moves left"
    # labels of unseen lines are no lists (students without the memory wrote them): they neither vote nor score
    broken = [fixed("1. fine_browser {}", "a1"), fixed("1. fine_browser {}", "a2.1.2"),
              fixed("1. fine_browser {}", "moves right, stops")]
    ep = run_episode(q, ScriptedTeam(broken), _NoTools(), complete_topology(3), CATALOGUE, CPPConfig(), seed=0)
    assert [a.answer for a in ep.agents] == [None, None, "moves right, stops"]
    assert ep.agents[0].turns[-1].error_kind == "bad_answer" and ep.final_answer == "moves right, stops"


# ------------------------------------------------------------------------------ generation


def test_generation_is_seeded_and_leaves_the_other_families_unchanged():
    log = sample_event_log(CFG, "v", 3)
    a, b = generate_open_questions(log, CFG, 11), generate_open_questions(log, CFG, 11)
    assert [q.model_dump() for q in a] == [q.model_dump() for q in b] and a
    many = [generate_open_questions(sample_event_log(CFG, "v", s), CFG, s) for s in range(12)]
    assert len({q.question for qs in many for q in qs}) > 12  # the seed matters
    on = split_questions(CFG, "test", 6, seed=1)
    off = split_questions(CFG.model_copy(update={"open_ended": False}), "test", 6, seed=1)
    assert [q for q in on if q.family != Family.OPEN_ENDED] == off
    assert {q.family for q in off} == {Family.LONG_VIDEO, Family.REASONING, Family.SPATIAL, Family.GROUNDING}
    assert any(q.family == Family.OPEN_ENDED for q in on)


def test_more_open_ended_questions_per_video_extend_the_list_and_change_no_other_family():
    base = CFG.model_copy(update={"questions_per_family": 2})
    few = split_questions(base, "train", 8, seed=0)
    many = split_questions(base.model_copy(update={"open_ended_per_video": 8}), "train", 8, seed=0)
    assert [q for q in many if q.family != Family.OPEN_ENDED] == [q for q in few if q.family != Family.OPEN_ENDED]
    few_open = {q.qid: q for q in few if q.family == Family.OPEN_ENDED}
    many_open = [q for q in many if q.family == Family.OPEN_ENDED]
    assert all(many_open[[m.qid for m in many_open].index(k)] == q for k, q in few_open.items())  # a prefix
    assert len(many_open) >= 3 * len(few_open)  # the kinds with a free parameter are drawn again
    per_video = Counter(q.qid.rsplit("-open_ended-", 1)[0] for q in many_open)
    assert max(per_video.values()) <= 8
    assert all(len({q.question for q in many_open if q.qid.startswith(v)}) == n for v, n in per_video.items())
    with pytest.raises(ValueError):
        SynthConfig(open_ended_per_video=0)


def _reference(log, q: Question) -> list[str]:
    """The answer recomputed from the event log, independently of the generators."""
    if q.category == "motion_sequence":
        name, t0, t1 = re.search(r"the (\w+ \w+) does between ([\d.]+) s and ([\d.]+) s", q.question).groups()
        o = log.object_by_name(name)
        return [MOTION_ITEM[m.direction] for m in log.motions(o) if m.end > float(t0) and m.start < float(t1)]
    if q.category == "caption_sequence":
        return [c.text for c in sorted(log.captions, key=lambda c: c.start)]
    if q.category == "objects_at":
        t = float(re.search(r"at ([\d.]+) s", q.question).group(1))
        return sorted(o.name for o in log.objects if log.is_on_screen(o, t))
    assert q.category == "appearance_sequence"
    return [o.name for o in sorted(log.objects, key=lambda o: o.t_in)]


def test_references_match_the_event_log():
    kinds = set()
    for i in range(30):
        log = video_log(CFG, "val", 0, i)
        for q in generate_open_questions(log, CFG, i):
            assert q.answer == ", ".join(_reference(log, q)), q.question
            assert q.meta["open_metric"] == ("set" if q.category == "objects_at" else "sequence")
            assert len(q.answer) <= 200 and q.qid.startswith(f"{log.video_id}-open_ended-")
            kinds.add(q.category)
    assert kinds == set(OPEN_GENERATORS)


# ------------------------------------------------------------------------------ on a real video


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from m1.synth import generate_split

    out = tmp_path_factory.mktemp("oe")
    cfg = SynthConfig(min_duration=14, max_duration=18, questions_per_family=4, open_ended=True, min_scenes=1,
                      max_scenes=3)
    generate_split(cfg, out, "test", 1, seed=0, progress=False)
    return out


def test_loader_reads_the_open_ended_file_and_gold_scores_100(split):
    from m1.synth import read_split

    loaded = load_benchmark("m1_synth", split, split="test")
    truth = {q.qid: q for q in read_split(split / "test") if q.family == Family.OPEN_ENDED}
    got = {q.qid: q for q in loaded.questions if q.family == Family.OPEN_ENDED}
    assert got and set(got) == set(truth) and loaded.report.ok
    for qid, q in got.items():
        w = truth[qid]
        assert (q.question, q.answer, q.category, q.meta["open_metric"], q.video) == \
            (w.question, w.answer, w.category, w.meta["open_metric"], w.video)
    rep = score("m1_synth", loaded.questions, {q.qid: q.answer for q in loaded.questions})
    assert rep["overall"] == pytest.approx(100.0) and rep["open_ended"]["exact"] == pytest.approx(100.0)


def _open_questions(split):
    from m1.synth import read_split

    return [q for q in read_split(split / "test") if q.family == Family.OPEN_ENDED]


def test_solver_answers_open_ended_questions_on_a_generated_video(split):
    from m1.tools.context import VideoStore
    from m1.tools.solver import solve

    qs = _open_questions(split)
    assert {q.category for q in qs} >= {"objects_at", "motion_sequence"}
    store = VideoStore()
    sols = [solve(q, store=store) for q in qs]
    scores = [score_question(q, s.answer).score for q, s in zip(qs, sols, strict=True)]
    assert sum(scores) >= len(qs) - 0.5, list(zip([q.answer for q in qs], [s.answer for s in sols], strict=True))
    assert all(s.frames_used < q.duration * 10 for q, s in zip(qs, sols, strict=True))  # below every frame


@pytest.mark.slow
def test_oracle_team_annotates_open_ended_questions_through_the_summariser(split):
    from m1.checkpoint import train_tokenizer
    from m1.team.cpp import ToolRunner
    from m1.tools.registry import catalogue
    from m1.train.annotation import annotate
    from m1.train.teachers import OracleTeacher, TeacherTeam

    qs = _open_questions(split)
    runner = ToolRunner()
    tok = train_tokenizer(["#plan Q: which objects fine_browser candidate moves stops"], vocab_size=300)
    team = TeacherTeam(OracleTeacher(SFTConfig(weak_plan_prob=0.0, redundant_step_prob=0.0)), ["a", "b", "c"],
                       tok, [4096] * 3)
    # a 300-token vocabulary spells a list out in many tokens: lines must not be clipped before their
    # candidate (the project's 2,048-token tokenizer needs at most 41 of the default 48; benchmarks/open_ended.md)
    examples, verdicts, episodes = annotate(qs[:2], team, runner, catalogue(), CPPConfig(entry_tokens=256),
                                            SFTConfig())
    for ep in episodes:
        summ = next(a for a in ep.agents if a.agent == ep.summariser)
        assert ep.final_answer == summ.answer and ep.aggregation == "item_vote"  # every agent right: the same list
        assert score_question(ep.question, ep.final_answer).score == 1.0
    assert all(v.kept and v.answer_correct for v in verdicts)
    assert {e.kind for e in examples} >= {"plan", "answer"} and {e.family for e in examples} == {"open_ended"}
    from m1.team.answers import CITE_RE

    assert all(CITE_RE.match(e.target) for e in examples if e.kind == "answer")  # cited (sft.cite_open_answers)


def test_a_form_that_observes_nothing_defers_to_the_general_answer(split):
    import json

    from m1.synth.world import EventLog
    from m1.tools import open_answers
    from m1.tools.context import ToolContext

    q = _open_questions(split)[0]
    log = EventLog.model_validate(json.loads((split / "test" / "events" / f"{q.meta['video_id']}.json").read_text()))
    empty = next(t / 10 for t in range(int(log.duration * 10)) if not log.state_at(t / 10))
    ctx = ToolContext(q.video, q)
    seen = open_answers.answer("spatial", ctx, f"Which objects are on screen at {empty:.1f} s?")
    assert seen is None or seen.evidence.startswith("general:")  # not an empty list passed off as an answer
    t = next(t / 10 for t in range(int(log.duration * 10)) if len(log.state_at(t / 10)) == 1
             and log.is_fully_visible(log.objects[log.state_at(t / 10)[0].object_id], t / 10))
    cand = open_answers.answer("spatial", ToolContext(q.video, q), f"Which objects are on screen at {t:.1f} s?")
    assert cand.answer == log.state_at(t)[0].name and cand.confidence == 0.9


@pytest.mark.parametrize(("text", "handler", "groups"), [
    ("Describe what the red square does between 12.8 s and 18.4 s, in order.", "h_motion_sequence",
     ("red square", "12.8", "18.4")),
    ("What does the red circle do between 4 s and 12 s?", "h_motion_sequence", ("red circle", "4", "12")),
    ("Which captions appear, in order?", "h_caption_sequence", ()),
    ("Name the objects in the order in which they appear.", "h_appearance_sequence", ()),
    ("Which objects are visible at 3s?", "h_objects_at", ("3",)),
    ("How many different objects appear in the video?", None, None),  # a multiple-choice form's question
])
def test_open_forms_match_the_generated_wording_and_close_rewordings(text, handler, groups):
    from m1.tools.open_answers import FORMS

    hits = [(h.__name__, p.search(text).groups()) for p, h in FORMS["fine_browser"] if p.search(text)]
    assert hits == ([] if handler is None else [(handler, groups)])


def test_the_answer_prior_guesses_the_most_common_list():
    from m1.synth.baseline import evaluate_prior, fit_prior

    train = split_questions(CFG, "train", 30, seed=2)
    prior = fit_prior(train)
    seen = Counter(q.answer for q in train if q.category == "motion_sequence")
    assert seen[prior.open_mode[("open_ended", "motion_sequence")]] == max(seen.values()) >= 2
    rep = evaluate_prior(prior, split_questions(CFG, "test", 10, seed=2))["open_ended"]
    assert rep["n"] > 0 and 0.0 < rep["most_common_f1"] < 0.7


def test_sft_families_selects_the_questions_to_annotate():
    from m1.errors import UserError
    from m1.train.annotation import select_questions

    qs = split_questions(CFG.model_copy(update={"questions_per_family": 2}), "train", 3, seed=0)
    only = select_questions(qs, SFTConfig(families=["open_ended"]))
    assert only and all(q.family == Family.OPEN_ENDED for q in only)
    assert only == [q for q in qs if q.family == Family.OPEN_ENDED]  # order kept
    assert select_questions(qs, SFTConfig(families=["open_ended"], max_questions=2)) == only[:2]
    assert select_questions(qs, SFTConfig()) == qs
    closed = [q for q in qs if q.family != Family.OPEN_ENDED]
    with pytest.raises(UserError, match="synth.open_ended=true"):
        select_questions(closed, SFTConfig(families=["open_ended"]))
    with pytest.raises(ValueError):
        SFTConfig(families=["captions"])
