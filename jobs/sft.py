"""Policy SFT of every agent of the team on the annotated dataset.

``python jobs/sft.py [--config YAML] [KEY=VALUE ...]`` (also under ``ray job submit --working-dir .
-- python jobs/sft.py ...``). Reads ``<sft.dataset_dir>/examples.jsonl`` (``jobs/annotate.py``),
trains each agent of ``team.agents`` from ``sft.team_dir`` — full fine-tuning or LoRA by
``sft.mode`` — as parallel Ray tasks (``sft.use_ray``) or in turn in-process, and writes:

- ``<out>/team/<agent>/``: the trained HF checkpoints (+ ``adapter/`` for LoRA) and ``team.json``,
  loadable by ``LocalTeam.from_dir`` / ``m1 ask --team``;
- ``<out>/runs/<agent>/``: resumable checkpoints, ``metrics.jsonl``, TensorBoard ``tb/``;
- ``<out>/loss.png`` and ``<out>/sft_summary.json``.

With ``sft.val_fraction`` > 0 whole questions are held out for validation loss; each agent exports its
lowest-validation-loss step, stops at a plateau only when ``sft.patience`` is set (off by default: a small
validation set's loss is noisy enough to stop training far too early), and the summary states the epoch.
With ``sft.choose_summariser`` the same held-out questions then choose the team's summariser, its best
agent alone with the tools (:func:`choose_on_held_out`; predictions in ``<out>/summariser_eval/``).

Re-running resumes each agent from its newest checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from m1.config import M1Config


def main(cfg: M1Config) -> dict:
    import torch

    torch.set_num_threads(1)
    from jobs.annotate import sft_paths
    from m1.checkpoint import TeamDir, agent_dir
    from m1.engines.endpoint import check_trainable
    from m1.train.annotation import read_dataset
    from m1.train.sft import hold_out_questions, plot_losses, train_agent

    check_trainable(cfg.team.agents)
    p = sft_paths(cfg)
    examples = read_dataset(p["dataset"])
    held = hold_out_questions([e.qid for e in examples], cfg.sft.val_fraction, cfg.seed)
    jobs = []
    for i, spec in enumerate(cfg.team.agents):
        pairs = [(e.prompt, e.target) for e in examples if e.agent == spec.name and e.qid not in held]
        val_pairs = [(e.prompt, e.target) for e in examples if e.agent == spec.name and e.qid in held]
        if not pairs:
            raise ValueError(f"the dataset {p['dataset']} has no examples for agent {spec.name!r}")
        agent_cfg = cfg.sft.model_copy(update={"lr": cfg.sft.lr * spec.sft_lr_scale})
        jobs.append({"name": spec.name, "base_dir": str(agent_dir(p["team_dir"], spec)), "pairs": pairs,
                     "cfg": agent_cfg, "run_dir": str(p["runs"] / spec.name), "out_dir": str(p["team_out"] / spec.name),
                     "seed": cfg.seed + i, "max_context": spec.max_context, "progress": not cfg.sft.use_ray,
                     "val_pairs": val_pairs})
    from m1.provenance import record

    started = record()
    t0 = time.perf_counter()
    if cfg.sft.use_ray:
        from actors.sft import train_agents_on_ray

        # Ray starts task workers at niceness 15; on a shared box that hands the CPU to everyone
        # else, and training is this job's whole work (applies to a Ray started by this process)
        os.environ.setdefault("RAY_worker_niceness", "0")

        # largest first: with fewer CPUs than agents, the long tasks must not start last
        size = {a.name: a.hidden_size**2 * a.num_layers for a in cfg.team.agents}
        order = sorted(range(len(jobs)), key=lambda k: -size[jobs[k]["name"]])
        done = train_agents_on_ray([jobs[k] for k in order], cfg)
        results = [r for _, r in sorted(zip(order, done, strict=True))]
    else:
        results = [train_agent(**j) for j in jobs]
    wall = time.perf_counter() - t0
    team_out = p["team_out"]
    TeamDir(team_out).copy_tokenizer_from(TeamDir(p["team_dir"]))
    provenance = {"mode": cfg.sft.mode, "dataset": str(p["dataset"]), "base": str(p["team_dir"]),
                  "provenance": started}
    from m1.models import PROMPTS_KEY, catalogue_lines, dataset_catalogue

    # the catalogue the prompts of the data set carry: what this team reads as its tool list
    prompts = {PROMPTS_KEY: dataset_catalogue(p["dataset"]) or catalogue_lines()}
    TeamDir(team_out).write_manifest(cfg.team, cfg.seed, {j["name"]: j["out_dir"] for j in jobs}, sft=provenance,
                                     **prompts)
    plot_losses({j["name"]: Path(j["run_dir"]) for j in jobs}, p["out"] / "loss.png",
                title=f"SFT loss ({cfg.sft.mode})")
    summary = {"wall_seconds": round(wall, 1), "use_ray": cfg.sft.use_ray, "mode": cfg.sft.mode,
               "team": str(team_out), "val_questions": len(held), "agents": results, "provenance": started}
    if cfg.sft.choose_summariser:
        t1 = time.perf_counter()
        choice = choose_on_held_out(cfg, p, held)
        summary["summariser"] = {"agent": choice["agent"], "scores": choice["scores"],
                                 "questions": choice["questions"], "seconds": round(time.perf_counter() - t1, 1)}
    (p["out"] / "sft_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=1))
    return summary


def choose_on_held_out(cfg: M1Config, p: dict[str, Path], held: set[str]) -> dict:
    """Store the trained team's summariser: each agent answers the questions SFT held out for validation
    alone (``m1 models choose-summariser``'s rule, :func:`m1.evaluation.summariser.choose_summariser`),
    and the best is written to ``team.json``. No trained agent saw these questions; they chose only each
    agent's exported step. Every run chooses from scratch (the predictions in ``<out>/summariser_eval/``
    are replaced): a rerun with more epochs exports other weights under the same team folder, and answers
    of the earlier weights would otherwise be resumed as theirs."""
    import shutil

    from actors.rollout import build_backends
    from m1.evaluation.summariser import choose_summariser
    from m1.synth import read_split

    questions = [q for q in read_split(p["data_dir"]) if q.qid in held]
    out = p["out"] / "summariser_eval"
    shutil.rmtree(out, ignore_errors=True)
    backends = build_backends(cfg, p["team_out"], use_ray=False)
    choice = choose_summariser(backends, cfg, p["team_out"], "m1_synth", "sft-val", questions, p["data_dir"], out,
                               progress=not cfg.sft.use_ray)
    print(f"summariser of {p['team_out']}: {choice['agent']} (each agent alone on the {len(questions)} questions "
          f"held out for validation: {', '.join(f'{k} {v:.1f}%' for k, v in choice['scores'].items())})")
    return choice


def cli(argv: list[str] | None = None) -> int:
    from jobs import run_cli

    return run_cli(main, __doc__, argv)


if __name__ == "__main__":
    if __package__ in (None, ""):  # `python jobs/sft.py`: make `jobs` importable from the repo root
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(cli())
