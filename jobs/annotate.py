"""Annotate M1-Synth questions with a teacher and write the filtered SFT dataset.

``python jobs/annotate.py [--config YAML] [KEY=VALUE ...]`` — reads ``sft.data_dir`` (default
``<output_dir>/synth/train``, generated with ``sft.train_videos`` videos if missing), runs one
teacher CPP episode per question (``sft.families`` and ``sft.max_questions`` select them; the
complete topology, or for a share ``sft.dag_fraction`` a DAG with Agent Dropout as MARL draws;
:func:`m1.train.annotation.annotate`), applies the paper's filter and writes
``<sft.dataset_dir>/examples.jsonl`` (default ``<output_dir>/sft/data``) + ``manifest.json`` (yield per
family, teacher usage).
Runs in-process: the teacher is the bottleneck (tools for the oracle, HTTP for an LLM).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from m1.config import M1Config


def sft_paths(cfg: M1Config) -> dict[str, Path]:
    """Where the SFT stages read and write: ``sft.*_dir`` (their defaults interpolate ``output_dir``).
    ``sft.data_dir`` stays optional: unset, the split under ``output_dir`` is generated when missing;
    named, it must exist."""
    out = Path(cfg.sft.out_dir)
    return {"data_dir": Path(cfg.sft.data_dir) if cfg.sft.data_dir else Path(cfg.output_dir) / "synth" / "train",
            "team_dir": Path(cfg.sft.team_dir), "out": out, "dataset": Path(cfg.sft.dataset_dir),
            "runs": out / "runs", "team_out": out / "team"}


def ensure_inputs(cfg: M1Config) -> dict[str, Path]:
    """Generate the training split and the initial team when they are missing."""
    from m1.checkpoint import TeamDir
    from m1.models import init_team

    p = sft_paths(cfg)
    if not (p["data_dir"] / "questions.jsonl").is_file():
        if cfg.sft.data_dir:
            raise FileNotFoundError(f"sft.data_dir={cfg.sft.data_dir!r} is not an M1-Synth split (no questions.jsonl)")
        from m1.synth import generate_split

        print(f"generating {cfg.sft.train_videos} training videos under {p['data_dir']}", file=sys.stderr)
        generate_split(cfg.synth, p["data_dir"].parent, "train", cfg.sft.train_videos, seed=cfg.seed)
    if not TeamDir(p["team_dir"]).exists():
        print(f"writing an untrained team to {p['team_dir']}", file=sys.stderr)
        init_team(cfg.team, p["team_dir"], seed=cfg.seed)
    return p


def teacher_team_score(episodes) -> dict[str, float]:  # noqa: ANN001
    """The teacher team's own mean score per family (and ``all``): its aggregated final answers on the
    training questions, scored like an evaluation (how well the teacher does what it teaches)."""
    from m1.data.scoring import score_question
    from m1.evaluation.summary import summarise

    fams = [ep.question.family.value if ep.question.family else "none" for ep in episodes]
    rows = [{"score": score_question(ep.question, ep.final_answer).score} for ep in episodes]
    return {k: round(v["score"], 4) for k, v in summarise(fams, rows).items()}


def main(cfg: M1Config) -> dict:
    import torch

    torch.set_num_threads(1)
    from m1.checkpoint import agent_dir, load_tokenizer
    from m1.engines.endpoint import check_trainable
    from m1.synth import read_split
    from m1.team.cpp import ToolRunner
    from m1.tools.registry import catalogue
    from m1.train.annotation import annotate, select_questions, write_dataset, yield_by_family
    from m1.train.teachers import TeacherTeam, build_teacher

    p = ensure_inputs(cfg)
    if cfg.sft.teacher == "verify" and cfg.sft.single_pass_only:
        print("warning: sft.teacher=verify with sft.single_pass_only=true: the single-pass filter drops the plan of "
              "every trajectory that re-read, which with noisy tools is most of them (measured: 55-69 plan against "
              "~185 revision examples per agent, and students that wrote no parseable plan); consider "
              "sft.single_pass_only=false (benchmarks/collaboration.md)", file=sys.stderr)
    questions = select_questions(read_split(p["data_dir"]), cfg.sft, where=str(p["data_dir"]))
    check_trainable(cfg.team.agents)
    tok = [load_tokenizer(agent_dir(p["team_dir"], a)) for a in cfg.team.agents]  # one per agent: a mixed team
    teacher = build_teacher(cfg.sft, seed=cfg.seed)
    team = TeacherTeam(teacher, [a.name for a in cfg.team.agents], tok, [a.max_context for a in cfg.team.agents],
                       cfg.team.labels)
    from m1.provenance import record
    from m1.tools import code_fingerprint

    provenance = record()  # at the start: a run that crashes half-way still began at this commit
    t0 = time.perf_counter()
    examples, verdicts, episodes = annotate(questions, team, ToolRunner(cfg.tools, cfg.video), catalogue(), cfg.cpp,
                                            cfg.sft, seed=cfg.seed, progress=True,
                                            dropout=cfg.grpo.dropout, edge_prob=cfg.grpo.edge_prob)
    blind = team.blind_answers / max(1, team.answers)
    yields = yield_by_family(verdicts)
    team_score = teacher_team_score(episodes)
    manifest = {
        "teacher": teacher.name, "questions": len(questions), "data_dir": str(p["data_dir"]),
        "team_dir": str(p["team_dir"]), "seed": cfg.seed, "seconds": round(time.perf_counter() - t0, 1),
        "answer_prompts_without_candidate": round(blind, 4), "yield": yields, "teacher_team_score": team_score,
        "topologies": dict(Counter(ep.topology.kind for ep in episodes)),
        "teacher_usage": getattr(teacher, "usage", None), "cpp": cfg.cpp.model_dump(), "sft": cfg.sft.model_dump(),
        "tools_code": code_fingerprint(), "provenance": provenance,
    }
    path = write_dataset(p["dataset"], examples, manifest)
    if blind > 0.5:
        print(f"warning: {blind:.0%} of answer prompts show no tool candidate: cpp.entry_tokens="
              f"{cfg.cpp.entry_tokens} clips evidence lines before their 'candidate=' (try cpp.entry_tokens=192)",
              file=sys.stderr)
    print(json.dumps({"dataset": str(path), "examples": len(examples), "yield": yields,
                      "teacher_team_score": team_score}, indent=1))
    return manifest


def cli(argv: list[str] | None = None) -> int:
    from jobs import run_cli

    return run_cli(main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(cli())
