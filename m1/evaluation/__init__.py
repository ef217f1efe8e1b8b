"""Evaluation: systems run over benchmark questions and scored with the official metrics.

- :mod:`m1.evaluation.harness` — systems (team, no_comm, solver, no_tools, solo), resumable prediction
  files, official metrics with frames and seconds per query (``m1 eval``);
- :mod:`m1.evaluation.predictions` — an evaluation directory's files: the predictions, ``run.json``
  and the lock a run holds;
- :mod:`m1.evaluation.report` — ``metrics.json``, ``report.md`` and ``report.png``;
- :mod:`m1.evaluation.summary` — the one per-family summary of scored answers, and a small
  helper that runs a team on labelled questions;
- :mod:`m1.evaluation.stats` — paired bootstrap intervals;
- :mod:`m1.evaluation.summariser` — the team's summariser: its best agent scored alone on a
  validation split (``m1 models choose-summariser``).

How one answer is scored lives in :mod:`m1.data.scoring`.
"""
