"""CPP runtime throughput: episodes per second in-process vs on Ray, and frames per query.

    .venv/bin/python benchmarks/cpp_bench.py [--videos 4] [--questions 16] [--out FILE.json]

Two workloads on the same M1-Synth test questions (default knobs):

* ``untrained team``: the tiny 4-agent HF team (random weights, sampling at temperature 1) —
  generation-bound; its plans rarely parse, so few tools run. Measures the cost of moving
  prompts/completions through actors.
* ``solver policy``: 4 agents that all write the reference solver's plan for the question and
  answer with the most confident candidate in their evidence — tool-bound; identical calls are
  de-duplicated by the episode cache. Reports accuracy (sanity), frames per query against
  uniform 1-fps sampling of the same videos.

Both run in-process (one episode at a time) and on a local Ray with 2 CPUs
(``ray.concurrency`` episodes at once); the ratio is Ray time / in-process time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from m1.config import SamplingConfig, load_config
from m1.engines.base import Completion
from m1.schema import TaskType
from m1.team.cpp import Phase
from m1.team.plan import PromptLimits, byte_counter
from m1.tools.solver import plan_for

torch.set_num_threads(1)


class SolverPolicyTeam:
    """Every agent writes the solver's plan and answers with the best candidate it has seen."""

    def __init__(self, n_agents=4):
        self.names = [f"solver{i}" for i in range(n_agents)]

    def counter(self, agent):
        return byte_counter

    def limits(self, agent, max_new_tokens, entry_tokens):
        # counts bytes, not tokens: allow ~4 bytes per token of the configured clip
        return PromptLimits(max_context=4096, max_new_tokens=max_new_tokens, entry_tokens=4 * entry_tokens)

    def _text(self, r):
        q = r.question
        if r.phase == Phase.PLAN:
            return "\n".join(f"{i}. {c.tool} {{}}" for i, c in enumerate(plan_for(q), 1))
        if r.phase == Phase.REVISION:
            return "KEEP"
        cands = [e for e in r.evidence if e.candidate is not None and e.confidence is not None]
        if cands:
            return max(cands, key=lambda e: e.shown_confidence).candidate
        return {TaskType.MULTIPLE_CHOICE: "A", TaskType.NUMERIC: "1", TaskType.GROUNDING: "0 1"}.get(q.task_type, "?")

    def generate(self, requests):
        out = []
        for r in requests:
            text = self._text(r)
            out.append(Completion(prompt_ids=[0], completion_ids=[1], text=text, logprobs=[0.0], finish_reason="stop"))
        return out


def correct(ep) -> bool:
    """Scored by the one scorer: a choice right, or MRA / IoU of at least 0.5."""
    from m1.data.scoring import score_question

    return score_question(ep.question, ep.final_answer).score >= 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--questions", type=int, default=16)
    ap.add_argument("--skip-untrained", action="store_true", help="Only the solver-policy workload.")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from actors.rollout import Backends, EpisodeJob, RolloutDriver, build_backends
    from m1.models import init_team
    from m1.synth import generate_split, read_split
    from m1.team.cpp import ToolRunner
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue

    cfg = load_config(overrides=["ray.num_cpus=2", "ray.concurrency=4", "ray.tool_workers=2"])
    tmp = tempfile.mkdtemp(prefix="cppbench-")
    generate_split(cfg.synth, tmp, "test", args.videos, seed=5, progress=False)
    qs = read_split(f"{tmp}/test")[: args.questions]
    init_team(cfg.team, f"{tmp}/team", seed=0)
    jobs = [EpisodeJob(q, complete_topology(4), seed=i) for i, q in enumerate(qs)]
    results: dict = {"questions": len(qs)}

    def timed(driver):
        t0 = time.perf_counter()
        eps = driver.run(jobs)
        return eps, time.perf_counter() - t0

    hot = SamplingConfig(temperature=1.0)
    ray_team = build_backends(cfg, f"{tmp}/team", use_ray=True)
    if not args.skip_untrained:
        _, t_local = timed(RolloutDriver(build_backends(cfg, f"{tmp}/team", use_ray=False), catalogue(), cfg, hot))
        _, t_ray = timed(RolloutDriver(ray_team, catalogue(), cfg, hot))
        results["untrained_team"] = {
            "in_process_s": round(t_local, 2), "ray_s": round(t_ray, 2),
            "in_process_eps_per_s": round(len(qs) / t_local, 3), "ray_eps_per_s": round(len(qs) / t_ray, 3),
            "ray_over_in_process": round(t_ray / t_local, 2),
        }

    policy = SolverPolicyTeam()
    local = Backends(policy, ToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False)
    eps_local, t_local = timed(RolloutDriver(local, catalogue(), cfg, cfg.sampling.eval))
    remote = Backends(policy, ray_team.tools, ray_team.memory, on_ray=True)
    eps_ray, t_ray = timed(RolloutDriver(remote, catalogue(), cfg, cfg.sampling.eval))
    same = [e.final_answer for e in eps_local] == [e.final_answer for e in eps_ray]
    frames = sum(e.frames_used for e in eps_local) / len(eps_local)
    dense = sum(round(e.question.duration) for e in eps_local) / len(eps_local)
    results["solver_policy"] = {
        "in_process_s": round(t_local, 2), "ray_s": round(t_ray, 2),
        "in_process_eps_per_s": round(len(qs) / t_local, 3), "ray_eps_per_s": round(len(qs) / t_ray, 3),
        "ray_over_in_process": round(t_ray / t_local, 2), "same_answers": same,
        "accuracy": round(sum(map(correct, eps_local)) / len(eps_local), 3),
        "frames_per_query": round(frames, 1), "uniform_1fps_frames_per_query": round(dense, 1),
        "tool_calls_per_query": round(sum(e.tool_calls for e in eps_local) / len(eps_local), 2),
    }
    for k, v in results.items():
        print(k, v)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
