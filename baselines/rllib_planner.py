"""RLlib baseline: PPO over discrete plan skeletons, evaluated against the reference solver.

::

    python -m baselines.rllib_planner cache --split data/m1s/train --out runs/planner/train.jsonl
    python -m baselines.rllib_planner cache --split data/m1s/test  --out runs/planner/test.jsonl
    python -m baselines.rllib_planner train --train runs/planner/train.jsonl --eval runs/planner/test.jsonl \\
        --out runs/planner/ppo --iterations 60 --seed 0

``cache`` runs the seven argument-less tool calls on every question of an M1-Synth split once
(:mod:`baselines.skeletons`) with the tools of ``--config`` (e.g. ``configs/noisy.yaml``'s noisy
tools), and with ``--rereads`` also the re-readings that give the planner its re-read action;
``train`` trains RLlib's PPO (new API stack: RLModule + Learner, ``num_env_runners=0``, CPU) on
:class:`baselines.rllib_env.PlannerEnv` — one policy per agent, or one shared with
``--shared-policy`` — saves the checkpoint, and with ``--eval`` plays the test questions greedily
(argmax) and writes ``report.json``; ``eval`` does the same from a saved
checkpoint. Every system of the report is played through the same environment:

- ``ppo``: the trained policies, greedy;
- ``solver``: every agent runs the reference solver's family plan and keeps it (= ``m1.tools.solver``);
- ``solver_verify`` (caches with re-readings): the same plan, then re-read (= the solver's ``verify``
  strategy; on a structured open-ended list the readings are voted item by item,
  :meth:`baselines.skeletons.QuestionCache.verify`);
- ``random``: every agent a uniformly random skeleton, then keep (seeded);
- ``best_per_family``: every agent the skeleton with the best mean train score for the question's
  family (a tabular planner fitted on the same train questions);
- ``oracle``: per question, the best single skeleton (an upper bound no planner can see).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.skeletons import SKELETONS, QuestionCache, load_cache, reference_skeleton
from m1.evaluation.stats import paired_bootstrap

Policy = Callable[[int, np.ndarray, int, QuestionCache], int]  # (agent, obs, phase, question) -> action


def _env(caches: Sequence[QuestionCache], num_agents: int, frame_cost: float, seed: int | None = None):
    from baselines.rllib_env import PlannerEnv

    return PlannerEnv({"caches": list(caches), "num_agents": num_agents, "seed": seed,
                       "reward": {"frame_cost": frame_cost}})


def play(caches: Sequence[QuestionCache], policy: Policy, num_agents: int = 3,
         frame_cost: float = 0.0) -> list[dict[str, Any]]:
    """One episode per question with ``policy``; each row: qid, family, score, frames, rewards, actions."""
    env = _env(caches, num_agents, frame_cost)
    rows = []
    for i, c in enumerate(caches):
        obs, _ = env.reset(options={"index": i})
        acts = []
        for phase in (0, 1):
            acts.append({a: policy(j, obs[a], phase, c) for j, a in enumerate(env.possible_agents)})
            obs, rew, _, _, infos = env.step(acts[-1])
        info = infos[env.possible_agents[0]]
        rows.append({"qid": info["qid"], "family": info["family"], "score": info["score"], "frames": info["frames"],
                     "fps1_frames": c.question.duration or 0.0,
                     "team_answer": info["team_answer"], "reward": statistics.fmean(rew.values()),
                     "actions": [[int(a) for a in x.values()] for x in acts]})
    return rows


def scripted(kind: str, train: Sequence[QuestionCache] = (), seed: int = 0) -> Policy:
    """The scripted systems of the module docstring (``solver``, ``solver_verify``, ``random``,
    ``best_per_family``, ``oracle``)."""
    from baselines.rllib_env import KEEP
    from m1.data.scoring import score_question

    if kind == "solver":
        return lambda j, o, phase, c: reference_skeleton(c.question) if phase == 0 else KEEP
    if kind == "solver_verify":
        from baselines.rllib_env import REREAD

        return lambda j, o, phase, c: reference_skeleton(c.question) if phase == 0 else REREAD
    if kind == "random":
        rng = np.random.default_rng(seed)
        return lambda j, o, phase, c: int(rng.integers(len(SKELETONS))) if phase == 0 else KEEP

    def skel_scores(c: QuestionCache) -> list[float]:
        return [score_question(c.question, c.outcome(s.tools)[0]).score for s in SKELETONS]

    if kind == "oracle":  # the best skeleton, the fewest frames among equals
        def best(c: QuestionCache) -> int:
            sc = skel_scores(c)
            return max(range(len(SKELETONS)), key=lambda k: (sc[k], -len(c.outcome(SKELETONS[k].tools)[2]), -k))
        return lambda j, o, phase, c: best(c) if phase == 0 else KEEP
    if kind == "best_per_family":
        if not train:
            raise ValueError("best_per_family needs the train questions")
        per: dict[Any, list[list[float]]] = defaultdict(list)
        for c in train:
            per[c.question.family].append(skel_scores(c))
        table = {f: int(np.argmax(np.mean(v, axis=0))) for f, v in per.items()}
        return lambda j, o, phase, c: table.get(c.question.family, reference_skeleton(c.question)) if phase == 0 \
            else KEEP
    raise ValueError(f"unknown scripted system {kind!r}")


def module_policy(modules: dict[str, Any], mapping: Callable[[int], str]) -> Policy:
    """Greedy (argmax of the action logits) play of trained RLModules."""
    import torch

    def act(j: int, obs: np.ndarray, phase: int, c: QuestionCache) -> int:
        with torch.no_grad():
            out = modules[mapping(j)].forward_inference({"obs": torch.as_tensor(obs[None])})
        return int(out["action_dist_inputs"][0].argmax())
    return act


def summarise(systems: dict[str, list[dict]], reference: str = "solver") -> dict[str, Any]:
    """Per system and family: n, mean score, frames per question; paired bootstrap against ``reference``."""
    out: dict[str, Any] = {}
    for name, rows in systems.items():
        fams: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            fams[r["family"]].append(r)
        fams["all"] = list(rows)
        entry = {f: {"n": len(v), "score": statistics.fmean(r["score"] for r in v),
                     "frames": statistics.fmean(r["frames"] for r in v),
                     "fps1_frames": statistics.fmean(r["fps1_frames"] for r in v)} for f, v in sorted(fams.items())}
        if name != reference and reference in systems:
            for f, v in entry.items():
                ref = [r["score"] for r in systems[reference] if f == "all" or r["family"] == f]
                mine = [r["score"] for r in rows if f == "all" or r["family"] == f]
                v["vs_" + reference] = paired_bootstrap(ref, mine)
        out[name] = entry
    return out


def format_table(summary: dict[str, Any]) -> str:
    fams = sorted({f for s in summary.values() for f in s}, key=lambda f: (f == "all", f))
    lines = ["| system | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    for name, s in summary.items():
        cells = []
        for f in fams:
            v = s.get(f)
            cell = f"{v['score']:.3f} ({v['frames']:.1f} fr)" if v else ""
            if v and "vs_solver" in v:
                d, lo, hi = v["vs_solver"]
                cell += f" Δ{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    first = next(iter(summary.values()))
    lines.append("\nn: " + ", ".join(f"{f}={first[f]['n']}" for f in fams if f in first))
    lines.append("uniform 1-fps frames/q (video seconds): "
                 + ", ".join(f"{f}={first[f]['fps1_frames']:.1f}" for f in fams if f in first))
    return "\n".join(lines)


# ------------------------------------------------------------------------------- PPO
def ppo_config(train: Sequence[QuestionCache], num_agents: int = 3, seed: int = 0, frame_cost: float = 0.0,
               shared: bool = False, batch: int = 1000, minibatch: int = 250, epochs: int = 6, lr: float = 5e-4,
               entropy: float = 0.01, hidden: int = 64):
    """The PPO configuration: new API stack, CPU, no remote env runners or learners."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from baselines.rllib_env import PlannerEnv

    policies = ["shared"] if shared else [f"p{i}" for i in range(num_agents)]
    return (
        PPOConfig()
        .environment(PlannerEnv, env_config={"caches": list(train), "num_agents": num_agents, "seed": seed,
                                             "reward": {"frame_cost": frame_cost}})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .multi_agent(policies=set(policies), policy_mapping_fn=_mapping(shared))
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[hidden, hidden]),
                   rl_module_spec=MultiRLModuleSpec(rl_module_specs={p: RLModuleSpec() for p in policies}))
        .training(train_batch_size_per_learner=batch, minibatch_size=minibatch, num_epochs=epochs, lr=lr,
                  entropy_coeff=entropy, gamma=1.0, lambda_=1.0)
        .debugging(seed=seed, log_level="ERROR")
    )


def _mapping(shared: bool):
    if shared:
        return lambda agent_id, episode, **kw: "shared"
    return lambda agent_id, episode, **kw: "p" + str(agent_id)[1:]


def _start_ray() -> None:
    import ray

    # RLlib needs Ray even with no remote runners (EnvRunnerGroup ray.put()s its config). Ray gives a starting
    # node 30 s to register, which a loaded 2-core machine can exceed: retry a few times.
    for attempt in range(4):
        if ray.is_initialized():
            return
        try:
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for the startup timeout
            if "timed out during startup" not in str(e) or attempt == 3:
                raise
            ray.shutdown()


def train_ppo(train: Sequence[QuestionCache], iterations: int, log: Callable[[str], None] = print,
              max_seconds: float = 0.0, **kw: Any) -> tuple[Any, list[dict]]:
    """Build and train PPO for ``iterations`` (fewer once ``max_seconds`` of training are spent, if set);
    returns (algorithm, per-iteration curve)."""
    _start_ray()
    algo = ppo_config(train, **kw).build_algo()
    curve = []
    t0 = time.monotonic()
    for it in range(iterations):
        if max_seconds and time.monotonic() - t0 > max_seconds:
            log(f"stopping after {it} iterations: the {max_seconds:.0f} s limit is spent")
            break
        r = algo.train()
        ret = r["env_runners"].get("episode_return_mean")
        curve.append({"iteration": it + 1, "episode_return_mean": ret, "seconds": time.monotonic() - t0,
                      "env_steps": r.get("num_env_steps_sampled_lifetime")})
        log(f"iter {it + 1}/{iterations}: team return {ret:.3f} ({time.monotonic() - t0:.0f} s)")
    return algo, curve


def evaluate(test: Sequence[QuestionCache], train: Sequence[QuestionCache], policy: Policy | None,
             num_agents: int, frame_cost: float, seed: int) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    kinds = ["solver", "random", "best_per_family", "oracle"]
    if all(c.has_rereads for c in test):
        kinds.insert(1, "solver_verify")
    systems = {k: play(test, scripted(k, train, seed), num_agents, frame_cost) for k in kinds}
    if policy is not None:
        systems["ppo"] = play(test, policy, num_agents, frame_cost)
    return systems, summarise(systems)


def _write_report(out: Path, systems: dict, summary: dict, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
    with (out / "episodes.jsonl").open("w") as f:
        for name, rows in systems.items():
            for r in rows:
                f.write(json.dumps({"system": name, **r}) + "\n")
    print(format_table(summary))


def _cmd_cache(args: argparse.Namespace) -> int:
    import torch

    from baselines.skeletons import REREADS, precompute, save_cache
    from m1.config import load_config
    from m1.schema import Family
    from m1.synth import read_split
    from m1.synth.formats import of_families

    torch.set_num_threads(1)
    tools = load_config(args.config, args.set).tools
    try:
        families = [Family(f) for f in args.families.split(",")] if args.families else None
    except ValueError:
        raise SystemExit(f"--families {args.families!r}: each must be one of {[f.value for f in Family]}") from None
    qs = of_families([q for q in read_split(args.split) if q.answer is not None], families, "--families", args.split)
    k, n = (int(x) for x in args.shard.split("/"))
    videos = sorted({q.video for q in qs})
    mine = set(videos[k::n])  # whole videos per shard, so a shard's calls share the video's perception cache
    qs = [q for q in qs if q.video in mine][: args.limit or None]
    t0 = time.monotonic()
    done = save_cache(precompute(qs, tools, rereads=args.rereads), args.out, log_every=25)
    calls = 7 + (len(REREADS) if args.rereads else 0)
    print(f"cached {done} questions x {calls} calls in {time.monotonic() - t0:.0f} s -> {args.out}")
    return 0


def _load(spec: str) -> list[QuestionCache]:
    return [c for path in spec.split(",") if path for c in load_cache(path)]


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    train = _load(args.train)
    kw = dict(num_agents=args.num_agents, seed=args.seed, frame_cost=args.frame_cost, shared=args.shared_policy,
              batch=args.batch, epochs=args.epochs, lr=args.lr, entropy=args.entropy)
    t0 = time.monotonic()
    algo, curve = train_ppo(train, args.iterations, max_seconds=60 * args.max_minutes, **kw)
    train_s = time.monotonic() - t0
    out = Path(args.out)
    ckpt = algo.save_to_path(str((out / "checkpoint").resolve()))
    (out / "curve.json").write_text(json.dumps(curve, indent=1))
    meta = {"command": " ".join(sys.argv), "train_questions": len(train), "iterations": args.iterations,
            "iterations_run": len(curve), "train_seconds": round(train_s, 1), "checkpoint": str(ckpt), **kw}
    if args.eval:  # read after training, so a cache still being written is read as it is then
        test = _load(args.eval)
        policies = ["shared"] if args.shared_policy else [f"p{i}" for i in range(args.num_agents)]
        modules = {p: algo.get_module(p) for p in policies}
        mapping = (lambda j: "shared") if args.shared_policy else (lambda j: f"p{j}")
        systems, summary = evaluate(test, train, module_policy(modules, mapping), args.num_agents,
                                    args.frame_cost, args.seed)
        meta["test_questions"] = len(test)
        _write_report(out, systems, summary, meta)
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps({"meta": meta}, indent=1))
    algo.stop()
    import ray

    ray.shutdown()
    return 0


def module_dir(checkpoint: Path) -> Path:
    """The RLModules of a ``train`` run: ``checkpoint`` is its ``--out`` directory or the ``checkpoint/`` in it."""
    for root in (checkpoint / "checkpoint", checkpoint):
        mods = root / "learner_group" / "learner" / "rl_module"
        if mods.is_dir():
            return mods
    raise SystemExit(f"--checkpoint {checkpoint}: no trained policies there (expected a `train --out` directory or "
                     "its checkpoint/ folder)")


def _cmd_eval(args: argparse.Namespace) -> int:
    train, test = _load(args.train), _load(args.eval)
    policy = None
    if args.checkpoint:
        from ray.rllib.core.rl_module.rl_module import RLModule

        root = module_dir(Path(args.checkpoint))
        mods = {p.name: RLModule.from_checkpoint(p) for p in sorted(root.iterdir()) if p.is_dir()}
        if not mods:
            raise SystemExit(f"no RLModules under {root}")
        if "shared" not in mods and len(mods) != args.num_agents:
            raise SystemExit(f"--checkpoint {args.checkpoint} holds {len(mods)} agents' policies ({sorted(mods)}); "
                             f"pass --num-agents {len(mods)} (got {args.num_agents})")
        mapping = (lambda j: "shared") if "shared" in mods else (lambda j: f"p{j}")
        policy = module_policy(mods, mapping)
    systems, summary = evaluate(test, train, policy, args.num_agents, args.frame_cost, args.seed)
    _write_report(Path(args.out), systems, summary, {"command": " ".join(sys.argv), "test_questions": len(test)})
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m baselines.rllib_planner", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring of baselines.rllib_planner for the systems compared.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache", help="Run the seven tool calls on every question of a split once (JSONL cache).")
    c.add_argument("--split", required=True, help="An M1-Synth split directory (m1 synth --out DIR --split S).")
    c.add_argument("--out", required=True, help="Cache file to write (.jsonl).")
    c.add_argument("--limit", type=int, default=0, help="Only the first N labelled questions (default: all).")
    c.add_argument("--families", default=None, metavar="F[,F]",
                   help="Only these question families, comma-separated, e.g. open_ended (default: all).")
    c.add_argument("--shard", default="0/1", metavar="K/N",
                   help="Only the videos with index %% N == K (run N processes; concatenate their files).")
    c.add_argument("--config", default=None, help="Project config whose `tools` section the calls use "
                   "(e.g. configs/noisy.yaml; default: the built-in tools settings, exact tools).")
    c.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="Config overrides, e.g. tools.noise.seed=1.")
    c.add_argument("--rereads", action="store_true",
                   help="Also cache the question-aware calls at the reference solver's other rates: the planner's "
                   "re-read action (meaningful with noisy tools; 6 more calls per question).")
    c.set_defaults(func=_cmd_cache)
    for name, fn in (("train", _cmd_train), ("eval", _cmd_eval)):
        t = sub.add_parser(name, help="Train PPO (and evaluate)." if name == "train" else "Evaluate a checkpoint.")
        t.add_argument("--train", required=True, help="Cache file(s) of the train questions, comma-separated.")
        t.add_argument("--eval", required=name == "eval", help="Held-out cache file(s), comma-separated.")
        t.add_argument("--out", required=True, help="Output directory (checkpoint, curve.json, report.json).")
        t.add_argument("--num-agents", type=int, default=3)
        t.add_argument("--frame-cost", type=float, default=0.0, help="rewards.frame_cost (0 = the paper's reward).")
        t.add_argument("--seed", type=int, default=0)
        if name == "train":
            t.add_argument("--iterations", type=int, default=40)
            t.add_argument("--max-minutes", type=float, default=0.0, help="Stop training after this (0: no limit).")
            t.add_argument("--batch", type=int, default=1000, help="Env steps per iteration (2 per episode).")
            t.add_argument("--epochs", type=int, default=6)
            t.add_argument("--lr", type=float, default=5e-4)
            t.add_argument("--entropy", type=float, default=0.01)
            t.add_argument("--shared-policy", action="store_true", help="One policy for all agents.")
        else:
            t.add_argument("--checkpoint", default=None,
                           help="A `train --out` directory, or the checkpoint/ folder in it (none: baselines only).")
        t.set_defaults(func=fn)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
