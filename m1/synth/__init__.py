"""M1-Synth: a procedural video-QA benchmark with exact ground truth.

``m1 synth --out DIR --split test --n 50 --seed 0`` writes real H.264 videos and questions of
the paper's four task families (long-video QA, reasoning, spatial, temporal grounding) in the
real benchmarks' formats. See :mod:`m1.synth.world` (what happens in a video),
:mod:`m1.synth.render` (pixels), :mod:`m1.synth.questions` (exact answers),
:mod:`m1.synth.open_ended` (the open-ended family, ``synth.open_ended``),
:mod:`m1.synth.formats` (files) and :mod:`m1.synth.generate` (the driver).
"""

from m1.synth.formats import of_families, read_split
from m1.synth.generate import SPLITS, SplitSummary, generate_split
from m1.synth.world import EventLog, sample_event_log

__all__ = ["SPLITS", "EventLog", "SplitSummary", "generate_split", "of_families", "read_split", "sample_event_log"]
