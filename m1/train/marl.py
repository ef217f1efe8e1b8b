"""The multi-agent GRPO training loop (what ``jobs/marl.py`` runs, in-process or on Ray).

One step: take ``marl.questions_per_step`` questions (a deterministic function of the seed and
the step: epochs are seeded permutations), run ``grpo.group_size`` rollouts of the whole team
per question — each with its own sampled DAG topology when ``grpo.agent_dropout`` is on and
its own sampling seed —, compute per-agent rewards and advantages, update every agent
(:class:`m1.train.learner.TeamLearner` or its Ray proxy), push the new weights to the rollout
engines, log, and checkpoint every ``marl.checkpoint_every`` steps.

Because questions, topologies and sampling seeds are functions of (seed, step) and a checkpoint
holds the models, optimisers, references and RNG states, a run resumed from step k performs
exactly the steps k+1.. of an uninterrupted run.

With ``marl.off_policy`` the rollouts of step k+1 run in a thread while the learner performs
update k (before the weight sync), so step k+1 learns from episodes sampled by the weights of
update k-1: staleness exactly 1 (``staleness`` in the record), and the clipped ratio is against
those behaviour log-probs. The prefetched episodes are part of the checkpoint
(``pending.json``), so resume stays exact.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from m1.config import M1Config
from m1.data.scoring import score_question
from m1.evaluation.summary import family_of, headline, summarise
from m1.schema import Question
from m1.seeding import derive_seed
from m1.team.rollout import EpisodeJob, RolloutDriver
from m1.team.topology import Topology, complete_topology, sample_topology
from m1.team.trace import Episode
from m1.train.learner import build_samples
from m1.train.rewards import LLMJudge

CHECKPOINT = "checkpoint"


def batch_questions(questions: Sequence[Question], seed: int, step: int, per_step: int) -> list[Question]:
    """The questions of ``step``: consecutive slices of seeded per-epoch permutations."""
    n = len(questions)
    if n == 0:
        raise ValueError("no training questions")
    out = []
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, i = divmod(pos, n)
        order = list(range(n))
        random.Random(derive_seed(seed, "epoch", epoch)).shuffle(order)
        out.append(questions[order[i]])
    return out


def rollout_topology(cfg: M1Config, num_agents: int, step: int, qi: int, g: int) -> Topology:
    if not cfg.grpo.agent_dropout:
        return complete_topology(num_agents)
    rng = random.Random(derive_seed(cfg.seed, "topology", step, qi, g))
    return sample_topology(num_agents, rng, dropout=cfg.grpo.dropout, edge_prob=cfg.grpo.edge_prob)


def family_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """The team's final answers scored by the one scorer (MC accuracy, numeric MRA, grounding IoU),
    summarised per family (:func:`m1.evaluation.summary.summarise`): ``accuracy`` (over all),
    ``frames_per_query``, ``tool_calls_per_query``, ``score/<family>``, and the turns' ``parse_rate``."""
    rows = [{"score": score_question(e.question, e.final_answer).score, "frames": e.frames_used,
             "tool_calls": e.tool_calls} for e in episodes]
    out = headline(summarise([family_of(e.question) for e in episodes], rows))
    out["parse_rate"] = _parse_rate(episodes)
    return out


def episode_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """:func:`family_metrics` over all episodes only (a training step's log record)."""
    return {k: v for k, v in family_metrics(episodes).items() if not k.startswith("score/")}


def _parse_rate(episodes: Sequence[Episode]) -> float:
    turns = [t for e in episodes for a in e.agents for t in a.turns]
    return sum(t.error is None for t in turns) / max(len(turns), 1)


class MARLTrainer:
    """Runs the loop above; ``learner`` is a TeamLearner or a RayLearner, ``driver`` a RolloutDriver."""

    def __init__(self, cfg: M1Config, questions: Sequence[Question], driver: RolloutDriver, learner: Any,
                 out_dir: str | Path, evaluate: Callable[[], dict[str, float]] | None = None):
        self.cfg, self.questions, self.driver, self.learner = cfg, list(questions), driver, learner
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.evaluate = evaluate
        self.step = 0
        self.pending: list[Episode] | None = None  # marl.off_policy: the next step's episodes, sampled ahead
        self.log_path = self.out / "metrics.jsonl"
        self._tb: Any = None
        self.judge = None
        if cfg.rewards.judge == "llm":

            self.judge = LLMJudge.from_config(cfg.rewards)

    # ----------------------------------------------------------------------------- state
    def resume(self) -> bool:
        ck = self.out / CHECKPOINT
        if not (ck / "trainer.json").is_file():
            return False
        state = json.loads((ck / "trainer.json").read_text())
        self.learner.load(ck)
        self.step = state["step"]
        if (ck / "pending.json").is_file():
            self.pending = [Episode.model_validate(e) for e in json.loads((ck / "pending.json").read_text())]
        self.sync_weights()
        return True

    def _trim_log(self) -> None:
        """Drop log lines of steps after ``self.step`` (the checkpoint resumed from, or 0 for a fresh
        start): this run writes those steps again, and a run stopped before its first checkpoint
        must not leave its steps in front of a fresh start's."""
        if self.log_path.is_file():
            keep = [ln for ln in self.log_path.read_text().splitlines() if json.loads(ln)["step"] <= self.step]
            self.log_path.write_text("".join(x + "\n" for x in keep))

    def save(self) -> None:
        ck = self.out / CHECKPOINT
        tmp = self.out / (CHECKPOINT + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        self.learner.save(tmp)
        (tmp / "trainer.json").write_text(json.dumps({"step": self.step, "seed": self.cfg.seed}))
        if self.pending is not None:
            (tmp / "pending.json").write_text(json.dumps([e.model_dump(mode="json") for e in self.pending]))
        elif (tmp / "pending.json").exists():  # left by an interrupted save
            (tmp / "pending.json").unlink()
        if ck.exists():
            old = self.out / (CHECKPOINT + ".old")
            ck.rename(old)
            tmp.rename(ck)
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            tmp.rename(ck)

    def sync_weights(self) -> float:
        """Every agent's new weights to its engine: vLLM's native transfer where the learner set one
        up (``send_native``, actors/weight_sync.py), else a state dict through ``update_weights``.
        Seconds per agent go to :attr:`sync_seconds` (``time_sync/<agent>`` in the step record)."""
        t0 = time.perf_counter()
        native = getattr(self.learner, "send_native", None)
        self.sync_seconds: dict[str, float] = {}
        for a, name in enumerate(self.driver.b.team.names):
            ta = time.perf_counter()
            if native is None or native(a) is None:
                self.driver.b.team.update_weights(a, self.learner.weights(a))
            self.sync_seconds[name] = time.perf_counter() - ta
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------------ loop
    def rollout_jobs(self, step: int) -> list[EpisodeJob]:
        cfg, n_agents = self.cfg, len(self.driver.b.team.names)
        qs = batch_questions(self.questions, cfg.seed, step, cfg.marl.questions_per_step)
        return [EpisodeJob(q, rollout_topology(cfg, n_agents, step, qi, g),
                           seed=derive_seed(cfg.seed, "rollout", step, qi, g) % (2**62))
                for qi, q in enumerate(qs) for g in range(cfg.grpo.group_size)]

    def train_step(self) -> dict[str, Any]:
        cfg, g_size = self.cfg, self.cfg.grpo.group_size
        t0 = time.perf_counter()
        stale = self.pending is not None
        episodes = self.pending if stale else self.driver.run(self.rollout_jobs(self.step))
        self.pending = None
        t_rollout = time.perf_counter() - t0
        groups = [episodes[i * g_size:(i + 1) * g_size] for i in range(cfg.marl.questions_per_step)]
        samples, rewards = build_samples(groups, cfg.rewards, cfg.grpo, self.judge)
        t1 = time.perf_counter()
        ahead = None
        if cfg.marl.off_policy and self.step + 1 < cfg.marl.steps:  # next step's rollouts beside this update
            ahead = ThreadPoolExecutor(max_workers=1)
            future = ahead.submit(self.driver.run, self.rollout_jobs(self.step + 1))
        try:
            lm = self.learner.step(samples) if samples else {}
            t_learn = time.perf_counter() - t1
            if ahead is not None:
                self.pending = future.result()
        finally:
            if ahead is not None:
                ahead.shutdown(wait=True)
        t_overlap = time.perf_counter() - t1
        t_sync = self.sync_weights() if samples else 0.0
        self.step += 1
        all_r = [r for rs in rewards.values() for r in rs]
        tokens = sum(len(t.completion_ids) for e in episodes for a in e.agents for t in a.turns)
        rec: dict[str, Any] = {
            "step": self.step,
            **episode_metrics(episodes),
            "reward": sum(r.total for r in all_r) / max(len(all_r), 1),
            "reward_outcome": sum(r.outcome for r in all_r) / max(len(all_r), 1),
            "reward_format": sum(r.format for r in all_r) / max(len(all_r), 1),
            "reward_collab": sum(r.collaboration for r in all_r) / max(len(all_r), 1),
            "samples": len(samples),
            "kl": lm.get("kl", 0.0), "clip_frac": lm.get("clip_frac", 0.0), "loss": lm.get("loss", 0.0),
            "grad_norm": lm.get("grad_norm", 0.0), "ratio_mean": lm.get("ratio_mean", 1.0),
            "tokens_per_s": tokens / max(t_rollout, 1e-9),
            "time_rollout": t_rollout, "time_tools": sum(e.tool_seconds for e in episodes),
            "time_learner": t_learn, "time_sync": t_sync, "staleness": int(stale),
            "time_learner_and_next_rollouts": t_overlap,
            **{k: lm[k] for k in ("peak_rss_gb", "peak_cuda_gb") if k in lm},
            **{f"time_sync/{k}": v for k, v in (getattr(self, "sync_seconds", {}) if samples else {}).items()},
        }
        return rec

    def run(self, progress: bool = True) -> list[dict[str, Any]]:
        if self.cfg.marl.resume and self.resume():
            print(f"resumed from step {self.step} ({self.out / CHECKPOINT})")
        self._trim_log()
        records = []
        bar: Any = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.cfg.marl.steps, initial=self.step, desc="MARL", unit="step")
        while self.step < self.cfg.marl.steps:
            rec = self.train_step()
            if self.evaluate is not None and self.cfg.marl.eval_every and self.step % self.cfg.marl.eval_every == 0:
                rec.update({f"eval/{k}": v for k, v in self.evaluate().items()})
            self._log(rec)
            records.append(rec)
            if self.step % self.cfg.marl.checkpoint_every == 0 or self.step == self.cfg.marl.steps:
                self.save()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(reward=f"{rec['reward']:.2f}", acc=f"{rec['accuracy']:.2f}",
                                parse=f"{rec['parse_rate']:.2f}")
        if bar is not None:
            bar.close()
        return records

    def _log(self, rec: dict[str, Any]) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        try:
            if self._tb is None:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tb"))
            for k, v in rec.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(k, v, rec["step"])
            self._tb.flush()
        except ImportError:  # tensorboard not installed: the JSONL log is the record
            self._tb = False


def plot_metrics(log_path: str | Path, out_png: str | Path) -> Path:
    """Training curves (reward and its parts, accuracy, parse rate, KL, frames/query, and the learner's
    peak memory where the log has it) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(x) for x in Path(log_path).read_text().splitlines() if x.strip()]
    steps = [r["step"] for r in recs]
    panels = [("reward", ["reward", "reward_outcome", "reward_format", "reward_collab"]),
              ("accuracy / parse rate", ["accuracy", "parse_rate"]), ("KL, clip fraction", ["kl", "clip_frac"]),
              ("frames per query", ["frames_per_query"])]
    memory = [k for k in ("peak_rss_gb", "peak_cuda_gb") if any(k in r for r in recs)]
    if memory:
        panels.append(("learner peak memory (GB)", memory))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
    for ax, (title, keys) in zip(axes, panels, strict=True):
        for k in keys:
            ax.plot(steps, [r.get(k, float("nan")) for r in recs], label=k)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)
