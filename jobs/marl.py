"""Multi-agent GRPO of the whole team (rollouts on Ray actors, a LearnerActor, weight sync).

    python jobs/marl.py [--config YAML] [KEY=VALUE ...]          # starts a local Ray
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/marl.py [KEY=VALUE ...]

Reads the M1-Synth train split (``marl.data_dir``, default ``<output_dir>/synth/train``,
generated if missing; only the questions of ``marl.families`` when set, in training and in the
evaluations) and starts from ``marl.team_dir`` (default: the SFT team ``<output_dir>/sft/team``
when it exists, else ``<output_dir>/team``, created untrained if missing). Writes under
``<output_dir>/marl``: ``metrics.jsonl``, TensorBoard ``tb/``, ``curves.png``, ``checkpoint/``
(resumed automatically), the trained team ``team/`` and ``marl_summary.json`` with an evaluation
on the held-out split before and after training.
Rollouts sample with ``sampling.train``, the evaluations with ``sampling.eval`` (greedy by default).
``marl.use_ray=false`` runs everything in this process.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from m1.checkpoint import TeamDir
from m1.config import M1Config
from m1.schema import ToolSpec


def marl_paths(cfg: M1Config) -> dict[str, Path]:
    root = Path(cfg.output_dir)
    if cfg.marl.team_dir:
        team = Path(cfg.marl.team_dir)
    elif TeamDir(root / "sft" / "team").exists():
        team = root / "sft" / "team"
    else:
        team = root / "team"
    return {"data": Path(cfg.marl.data_dir) if cfg.marl.data_dir else root / "synth" / "train",
            "eval": Path(cfg.marl.eval_dir) if cfg.marl.eval_dir else root / "synth" / "test",
            "team": team, "out": root / "marl"}


def rollout_drivers(cfg: M1Config, backends: Any, catalogue: Sequence[ToolSpec]) -> tuple[Any, Any]:
    """The two episode drivers of a MARL run over one set of back-ends: the rollouts', sampling with
    ``sampling.train``, and the held-out evaluations', sampling with ``sampling.eval``."""
    from m1.team.rollout import RolloutDriver

    return (RolloutDriver(backends, catalogue, cfg, cfg.sampling.train),
            RolloutDriver(backends, catalogue, cfg, cfg.sampling.eval))


def _ensure_split(path: Path, split: str, videos: int, cfg: M1Config, explicit: bool) -> None:
    if (path / "questions.jsonl").is_file():
        return
    if explicit:
        raise FileNotFoundError(f"{path} is not an M1-Synth split (no questions.jsonl)")
    from m1.synth import generate_split

    print(f"generating {videos} {split} videos under {path}", file=sys.stderr)
    generate_split(cfg.synth, path.parent, split, videos, seed=cfg.seed)


def main(cfg: M1Config) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    from actors.rollout import build_backends
    from m1.checkpoint import agent_dir, save_agent
    from m1.engines.endpoint import check_trainable
    from m1.models import PROMPTS_KEY, catalogue_lines, init_team, with_team_summariser
    from m1.synth import of_families, read_split
    from m1.team.rollout import EpisodeJob
    from m1.team.topology import complete_topology
    from m1.train.learner import TeamLearner, lora_config
    from m1.train.marl import MARLTrainer, family_metrics, plot_metrics

    check_trainable(cfg.team.agents)
    p = marl_paths(cfg)
    _ensure_split(p["data"], "train", cfg.marl.train_videos, cfg, bool(cfg.marl.data_dir))
    _ensure_split(p["eval"], "test", cfg.marl.eval_videos, cfg, bool(cfg.marl.eval_dir))
    if not TeamDir(p["team"]).exists():
        print(f"writing an untrained team to {p['team']}", file=sys.stderr)
        init_team(cfg.team, p["team"], seed=cfg.seed)
    cfg = with_team_summariser(cfg, p["team"])  # rollouts use the start team's chosen summariser, if any
    train_qs = of_families(read_split(p["data"]), cfg.marl.families, "marl.families", str(p["data"]))
    eval_qs = of_families(read_split(p["eval"]), cfg.marl.families, "marl.families", str(p["eval"]))
    eval_qs = eval_qs[: cfg.marl.eval_questions]
    dirs = [agent_dir(p["team"], a) for a in cfg.team.agents]

    backends = build_backends(cfg, p["team"], use_ray=cfg.marl.use_ray, with_learner=True)
    lora_rank = cfg.marl.lora_rank if cfg.marl.lora else None
    scales = [a.marl_lr_scale for a in cfg.team.agents]
    if cfg.marl.use_ray:
        from actors.learner import RayLearner

        devices = None
        if cfg.cluster.gpus_per_node and cfg.cluster.learner_on_gpu:  # the plan says which GPU holds what
            from m1.resources import plan_resources

            devices = plan_resources(cfg, Path.cwd()).learner_devices([a.name for a in cfg.team.agents])
        learner = RayLearner(dirs, cfg.grpo, lora_rank, seed=cfg.seed, num_cpus=cfg.ray.learner_cpus,
                             num_gpus=cfg.ray.learner_gpus, threads=cfg.ray.learner_threads,
                             placement=backends.placement, devices=devices, lr_scales=scales)
        if cfg.engine.weight_transfer != "object_store":  # vLLM's native transfer to the vLLM engines
            for a, spec in enumerate(cfg.team.agents):
                if spec.engine == "vllm":
                    learner.init_native_sync(a, cfg.engine.weight_transfer, backends.team.actors[a],
                                             cfg.engine.weight_bucket_mb)
    else:
        learner = TeamLearner.from_dirs(dirs, cfg.grpo, lora=lora_config(lora_rank) if lora_rank else None,
                                        seed=cfg.seed, lr_scales=scales)
    driver, evaluator = rollout_drivers(cfg, backends, backends.tool_catalogue())
    n = len(cfg.team.agents)

    def evaluate() -> dict[str, float]:
        jobs = [EpisodeJob(q, complete_topology(n), seed=i) for i, q in enumerate(eval_qs)]
        return family_metrics(evaluator.run(jobs, progress=True, desc="eval"))

    trainer = MARLTrainer(cfg, train_qs, driver, learner, p["out"], evaluate=evaluate)
    resumed = cfg.marl.resume and trainer.resume()
    from m1.provenance import record

    started = {**record(), "from_step": trainer.step}  # a resumed run records where this part began
    before = None if resumed else evaluate()
    t0 = time.perf_counter()
    trainer.run()
    wall = time.perf_counter() - t0
    after = evaluate()
    plot_metrics(trainer.log_path, p["out"] / "curves.png")
    # the trained team, loadable by `m1 ask --team` / LocalTeam.from_dir
    from m1.checkpoint import load_agent

    team_out = p["out"] / "team"
    for a, spec in enumerate(cfg.team.agents):
        model, tok = load_agent(dirs[a])
        model.load_state_dict(_materialise(learner.weights(a)))
        save_agent(model, tok, team_out / spec.name)
    TeamDir(team_out).copy_tokenizer_from(TeamDir(p["team"]))
    TeamDir(team_out).write_manifest(cfg.team, cfg.seed, marl={"from": str(p["team"]), "steps": trainer.step,
                                                                "provenance": started},
                                     **{PROMPTS_KEY: catalogue_lines(driver.catalogue)})  # the rollouts' prompts
    chosen = TeamDir(p["team"]).summariser_choice()
    if chosen is not None:  # trained with it, so evaluated with it; its scores are the start team's
        TeamDir(team_out).write_summariser_choice({**chosen, "carried_from": str(p["team"])})
    summary = {"steps": trainer.step, "wall_seconds": round(wall, 1), "use_ray": cfg.marl.use_ray,
               "start_team": str(p["team"]), "train_questions": len(train_qs), "eval_questions": len(eval_qs),
               "families": None if cfg.marl.families is None else [f.value for f in cfg.marl.families],
               "before": before, "after": after, "team": str(team_out), "provenance": started}
    (p["out"] / "marl_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=1))
    return summary


def _materialise(state):
    """A weights dict, fetching it first when the learner is a Ray actor (ObjectRef)."""
    if isinstance(state, dict):
        return state
    from actors import get

    return get(state, 600.0, "final weights")


def cli(argv: list[str] | None = None) -> int:
    from jobs import run_cli

    return run_cli(main, __doc__, argv)


if __name__ == "__main__":
    if __package__ in (None, ""):  # `python jobs/marl.py`: make `jobs`, `m1`, `actors` importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(cli())
