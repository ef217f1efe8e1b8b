"""M1-Synth read back through the real-benchmark loaders and scored with the official metrics.

The generator writes its questions in the LongVideoBench, VSI-Bench and Charades-STA formats (the
open-ended family in its own ``open_ended_<split>.jsonl``) and also as exact neutral ``Question``s
(``questions.jsonl``); the loaders must recover the same questions and answers from the format
files, and gold predictions must score 100.
"""

from __future__ import annotations

import pytest

from m1.config.synth import SynthConfig
from m1.data import load_benchmark, score
from m1.schema import Family, TaskType
from m1.synth.formats import read_split
from m1.synth.generate import generate_split

TINY = SynthConfig(
    width=96, height=96, fps=4, min_duration=6, max_duration=8, min_scenes=1, max_scenes=2,
    min_scene_seconds=3, min_object_size=12, max_object_size=24, open_ended=True,
)  # fmt: skip


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate_split(TINY, out, "test", 2, seed=0)
    return out


def test_synth_split_loads_through_benchmark_loaders(synth_dir):
    loaded = load_benchmark("m1_synth", synth_dir, split="test")
    truth = read_split(synth_dir / "test")
    assert loaded.report.ok and loaded.report.loaded == len(truth) and not loaded.report.issues
    for family in Family:
        got = [q for q in loaded.questions if q.family == family]
        want = [q for q in truth if q.family == family]
        assert len(got) == len(want) > 0, family
        for g, w in zip(got, want, strict=True):
            assert (g.task_type, g.options, g.question) == (w.task_type, w.options, w.question)
            assert g.video == w.video  # the same file, found through each format's own path rule
            if family == Family.GROUNDING:  # Charades-STA keeps 2 decimals and has no subtype field
                assert [float(x) for x in g.answer.split()] == pytest.approx([float(x) for x in w.answer.split()])
            else:
                assert (g.answer, g.category) == (w.answer, w.category)
                if family in (Family.LONG_VIDEO, Family.REASONING):
                    assert g.qid == w.qid and g.meta["subtitles"] == []


def test_synth_scores_gold_at_100_and_wrong_at_0(synth_dir):
    questions = load_benchmark("m1_synth", synth_dir, split="test").questions
    gold = score("m1_synth", questions, {q.qid: q.answer for q in questions})
    assert gold["overall"] == pytest.approx(100.0) and gold["unparseable"] == 0 and gold["missing"] == 0
    assert set(gold["by_family"]) == {f.value for f in Family}
    assert gold["grounding"]["R1@0.7"] == pytest.approx(100.0)

    def wrong(q):
        if q.task_type == TaskType.MULTIPLE_CHOICE:
            return "ABCDEF"[("ABCDEF".index(q.answer) + 1) % len(q.options)]
        if q.task_type == TaskType.NUMERIC:
            return str(float(q.answer) * 3 + 1)  # >= 200 % relative error → MRA 0
        return "1000 - 1001"

    bad = score("m1_synth", questions, {q.qid: wrong(q) for q in questions})
    assert bad["overall"] == 0.0 and bad["grounding"]["mIoU"] == 0.0
