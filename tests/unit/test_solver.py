"""The reference solver on one generated M1-Synth video: it must answer its questions."""

from __future__ import annotations

import pytest

from m1.config.synth import SynthConfig
from m1.schema import TaskType
from m1.synth.questions import generate_questions
from m1.synth.render import encode_video
from m1.synth.world import sample_event_log
from m1.tools.context import VideoStore
from m1.tools.solver import plan_for, solve


@pytest.mark.slow
def test_solver_answers_synth_questions(tmp_path):
    cfg = SynthConfig(min_duration=20, max_duration=24, questions_per_family=3)
    log = sample_event_log(cfg, "s0", 7)
    encode_video(log, tmp_path / "videos" / "s0.mp4")
    qs = generate_questions(log, cfg, 7)
    store = VideoStore()
    right = 0
    for q in qs:
        q.video = str(tmp_path / q.video)
        s = solve(q, store=store)
        assert [r.tool for r in s.results] == [c.tool for c in plan_for(q)]
        assert all(r.ok for r in s.results), [r.error for r in s.results]
        if q.task_type == TaskType.GROUNDING:
            (a, b), (c, d) = map(float, s.answer.split()), map(float, q.answer.split())
            ok = max(0.0, min(b, d) - max(a, c)) / (max(b, d) - min(a, c)) >= 0.5
        elif q.task_type == TaskType.NUMERIC:
            ok = abs(float(s.answer) - float(q.answer)) <= 0.1 * float(q.answer)
        else:
            ok = s.answer == q.answer
        right += ok
        assert s.frames_used < 2 * q.duration
    assert len(qs) >= 8 and right >= len(qs) - 1
