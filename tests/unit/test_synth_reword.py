"""The reworded M1-Synth split: every template has a rule, answers unchanged, no tool template
form matches a reworded question, files load through the benchmark loaders, clear errors."""

import json

import pytest

from m1.config import SynthConfig
from m1.synth.generate import split_questions
from m1.synth.reword import RULES, RewordError, reword, reword_split
from m1.tools.answering import FORMS


@pytest.fixture(scope="module")
def originals():
    return split_questions(SynthConfig(), "test", 40, seed=0)  # event logs only: no video is rendered


def test_every_template_is_reworded_with_the_same_answer(originals):
    cats = {q.category for q in originals}
    assert cats <= set(RULES) and len(cats) >= 18  # the generator's templates (rare ones may be absent)
    for q in originals:
        r = reword(q)
        assert r.question != q.question and r.meta["original_question"] == q.question
        assert (r.qid, r.answer, r.options, r.video, r.family, r.task_type) == \
            (q.qid, q.answer, q.options, q.video, q.family, q.task_type)
        assert reword(q).question == r.question  # deterministic
        # the names, captions and times the answer depends on survive the rewording
        for token in [t.strip("?.,:") for t in q.question.split()]:
            if token.isupper() or token.replace(".", "").isdigit():
                assert token in r.question, (q.question, r.question)


def test_no_reworded_question_matches_a_template_form_of_the_tools(originals):
    """The tools' exact handlers only know the generator's wording: a reworded question must go to
    the general evidence path (or get no candidate), else the split would test nothing."""
    for q in originals:
        text = reword(q).question
        hits = [p.pattern for forms in FORMS.values() for p, _ in forms if p.search(text.lower())]
        assert not hits, (text, hits)
        assert any(p.search(q.question.lower()) for forms in FORMS.values() for p, _ in forms), q.question


def test_reworded_split_files_load_and_pair_by_qid(originals, tmp_path):
    from m1.data.registry import load_benchmark
    from m1.synth.formats import write_split_files

    src = tmp_path / "test"
    qs = originals[:30]
    (src / "videos").mkdir(parents=True)
    (src / "events").mkdir()
    for q in qs:
        q.video = f"videos/{q.meta['video_id']}.mp4"
    write_split_files(src, "test", qs, sorted({q.meta["video_id"] for q in qs}))
    counts = reword_split(src, tmp_path / "test_rw")
    assert sum(counts.values()) == len(qs)
    assert (tmp_path / "test_rw" / "videos").resolve() == (src / "videos").resolve()
    loaded = load_benchmark("m1_synth", tmp_path / "test_rw", "test", require_videos=False).questions
    orig = {q.qid: q for q in load_benchmark("m1_synth", src, "test", require_videos=False).questions}
    assert len(loaded) == len(orig) > 0
    for q in loaded:
        assert q.qid in orig and q.answer == orig[q.qid].answer and q.question != orig[q.qid].question
    rec = json.loads((tmp_path / "test_rw" / "reworded.json").read_text())
    assert rec["questions"] == len(qs) and set(rec["rules"]) == set(RULES)
    reword_split(src, tmp_path / "test_rw")  # rerunnable into the same place


def test_unknown_or_changed_wording_is_a_clear_error(originals, tmp_path):
    q = originals[0]
    with pytest.raises(RewordError, match="no paraphrase rule"):
        reword(q.model_copy(update={"category": "made_up"}))
    with pytest.raises(RewordError, match="does not parse"):
        reword(q.model_copy(update={"question": "Something else entirely?"}))
    with pytest.raises(RewordError, match="not an M1-Synth split"):
        reword_split(tmp_path / "nothing", tmp_path / "out")
