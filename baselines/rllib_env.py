"""The CPP episode as an RLlib ``MultiAgentEnv`` whose agents choose discrete plan skeletons.

One episode is one question and a team of ``num_agents`` agents (ids ``a0``..``a{n-1}``), two
simultaneous decisions each — the CPP loop's plan and its one revision, with the tools replaced by
the lookup of :mod:`baselines.skeletons`:

1. **plan** (``phase 0``): action ``k < K`` runs skeleton ``k`` of :data:`~baselines.skeletons.SKELETONS`
   (K = 13); the agent's answer is that skeleton's answer. Actions ``K..K+2`` mean no plan (no
   tools, no answer) — an invalid choice at this phase, left to the reward to discourage.
2. **revise** (``phase 1``), after every agent has seen the team's answers (the shared memory):
   ``k < K``: re-plan — also run skeleton ``k``, answer from all the agent's calls; ``K``: keep;
   ``K+1``: revise to the team's majority answer (ties: the most confident); ``K+2``: revise to the
   most confident answer of the team; with re-readings in the cache (noisy tools), ``K+3``:
   **re-read** — read the skeleton's question-aware call again at the reference solver's other
   rates and answer by agreement (:meth:`~baselines.skeletons.QuestionCache.verify`: the solver's
   ``verify`` strategy; the answer in hand is the first reading). Without a question-aware call it
   keeps.

The team's answer is :func:`m1.team.cpp.aggregate` of the agents' answers under the default
:class:`~m1.config.cpp.CPPConfig` (majority vote for multiple choice, the numeric median, the
summariser — the last agent — for spans). **Reward**, at the last step, per agent: the project's
``R_res`` (:class:`~m1.config.rl.RewardConfig` ``outcome``: the team's, the agent's own, or their
mean, scored by :func:`m1.data.scoring.score_question`, mapped to ``wrong + (correct - wrong) * s``),
minus ``frame_cost`` times the frames the agent's own calls decoded first (whoever decodes a frame
first pays, agents in index order; so the team pays ``frame_cost × frames``, as in
:mod:`m1.train.rewards`). ``R_format`` and ``R_col`` have no counterpart: a skeleton always parses.

**Observation** (a ``Box`` in [0, 1]): the question's family and task type (one-hot), its number of
options, its words hashed into :data:`HASH_BUCKETS` buckets (CRC32, so stable across processes), the
phase, the agent's index; at the revision also its skeleton, whether it has an answer, its
confidence, the share of the team agreeing with it, whether it holds the majority answer, the team's
best confidence and share of agents with an answer, the number of distinct answers, its frames.

``env_config``: ``caches`` (a list of :class:`~baselines.skeletons.QuestionCache`) or ``cache_path``;
``num_agents`` (3); ``rereads`` (the re-read action; default: when every cached question has its
re-readings); ``reward`` (a dict of :class:`~m1.config.rl.RewardConfig` fields, e.g.
``{"frame_cost": 0.005}``); ``order``: ``random`` (a question drawn by the env's seeded generator)
or ``sequential`` (question ``i`` of the cache at the ``i``-th reset, for evaluation).
``reset(options={"index": i})`` picks question ``i``.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from baselines.skeletons import FAMILIES, REREAD_TOOLS, SKELETONS, QuestionCache, load_cache
from m1.config.cpp import CPPConfig
from m1.config.rl import RewardConfig
from m1.data.scoring import score_question
from m1.schema import Question, TaskType
from m1.team.cpp import aggregate

K = len(SKELETONS)
KEEP, MAJORITY, CONFIDENT, REREAD = K, K + 1, K + 2, K + 3
NUM_ACTIONS = K + 3  # without re-readings; PlannerEnv.num_actions is K + 4 with them
HASH_BUCKETS = 48
MAX_AGENTS = 8
TASK_TYPES = tuple(TaskType)
FRAME_SCALE = 300.0  # frames are observed as min(1, frames / FRAME_SCALE)
_WORD = re.compile(r"[a-z]+")


def obs_size() -> int:
    return len(FAMILIES) + len(TASK_TYPES) + 1 + HASH_BUCKETS + 2 + MAX_AGENTS + (K + 1) + 8


def question_features(q: Question) -> np.ndarray:
    fam = np.zeros(len(FAMILIES), np.float32)
    fam[FAMILIES.index(q.family)] = 1.0
    tt = np.zeros(len(TASK_TYPES), np.float32)
    tt[TASK_TYPES.index(q.task_type)] = 1.0
    words = np.zeros(HASH_BUCKETS, np.float32)
    for w in _WORD.findall(q.question.lower()):
        words[zlib.crc32(w.encode()) % HASH_BUCKETS] = 1.0
    return np.concatenate([fam, tt, [min(len(q.options), 6) / 6.0], words]).astype(np.float32)


class PlannerEnv(MultiAgentEnv):
    """See the module docstring."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config = dict(config or {})
        caches = config.get("caches")
        if caches is None:
            if "cache_path" not in config:
                raise ValueError("PlannerEnv needs env_config 'caches' or 'cache_path'")
            caches = load_cache(config["cache_path"])
        self.caches: list[QuestionCache] = list(caches)
        if not self.caches:
            raise ValueError("PlannerEnv needs at least one cached question")
        self.n = int(config.get("num_agents", 3))
        if not 1 <= self.n <= MAX_AGENTS:
            raise ValueError(f"num_agents must be in 1..{MAX_AGENTS}, got {self.n}")
        self.reward_cfg = RewardConfig(**config.get("reward", {}))
        self.cpp_cfg = CPPConfig()
        self.order = config.get("order", "random")
        if self.order not in ("random", "sequential"):
            raise ValueError(f"order must be 'random' or 'sequential', got {self.order!r}")
        has = all(c.has_rereads for c in self.caches)
        self.rereads = bool(config.get("rereads", has))
        if self.rereads and not has:
            raise ValueError("rereads=True needs a cache built with re-readings (cache --rereads)")
        self.num_actions = NUM_ACTIONS + int(self.rereads)
        self.possible_agents = [f"a{i}" for i in range(self.n)]
        self.agents = list(self.possible_agents)
        box = gym.spaces.Box(0.0, 1.0, (obs_size(),), np.float32)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(self.num_actions) for a in self.possible_agents}
        self._rng = np.random.default_rng(config.get("seed"))
        self._next = 0
        self._cache: QuestionCache | None = None
        self._phase = 0

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if options and "index" in options:
            i = int(options["index"])
        elif self.order == "sequential":
            i, self._next = self._next % len(self.caches), self._next + 1
        else:
            i = int(self._rng.integers(len(self.caches)))
        self._cache = self.caches[i]
        self._qfeat = question_features(self._cache.question)
        self._phase = 0
        self.agents = list(self.possible_agents)
        self._tools: list[list[str]] = [[] for _ in range(self.n)]
        self._skel = [K] * self.n  # K = no plan (yet)
        self._answers: list[str | None] = [None] * self.n
        self._conf = [0.0] * self.n
        self._frames: list[frozenset[int]] = [frozenset()] * self.n
        return {a: self._obs(i) for i, a in enumerate(self.agents)}, {a: {"index": i} for a in self.agents}

    def step(self, action_dict: dict[str, int]):
        if self._cache is None:
            raise RuntimeError("step() before reset()")
        acts = [int(action_dict[a]) for a in self.possible_agents]
        for a in acts:
            if not 0 <= a < self.num_actions:
                raise ValueError(f"action {a} is outside 0..{self.num_actions - 1}")
        if self._phase == 0:
            for i, act in enumerate(acts):
                if act < K:
                    self._run(i, SKELETONS[act].tools)
                    self._skel[i] = act
            self._phase = 1
            obs = {a: self._obs(i) for i, a in enumerate(self.agents)}
            zero = {a: 0.0 for a in self.agents}
            return obs, zero, {"__all__": False}, {"__all__": False}, {a: {} for a in self.agents}
        shown = list(zip(self._answers, self._conf, strict=True))  # what every agent read before revising
        for i, act in enumerate(acts):
            if act < K:
                self._run(i, SKELETONS[act].tools)
            elif act == MAJORITY:
                self._adopt(i, _majority(shown))
            elif act == CONFIDENT:
                self._adopt(i, max(shown, key=lambda x: (x[0] is not None, x[1])))
            elif act == REREAD:
                self._reread(i)
        self._phase = 2
        team, rewards, info = self.outcome()
        obs = {a: self._obs(i) for i, a in enumerate(self.agents)}
        done = {a: True for a in self.agents} | {"__all__": True}
        trunc = {a: False for a in self.agents} | {"__all__": False}
        infos = {a: dict(info, answer=self._answers[i]) for i, a in enumerate(self.agents)}
        return obs, dict(zip(self.agents, rewards, strict=True)), done, trunc, infos

    def _run(self, i: int, tools: tuple[str, ...]) -> None:
        self._tools[i] += [t for t in tools if t not in self._tools[i]]
        self._answers[i], self._conf[i], self._frames[i] = self._cache.outcome(self._tools[i])

    def _reread(self, i: int) -> None:
        aware = [t for t in self._tools[i] if t in REREAD_TOOLS]
        if not aware:
            return  # nothing question-aware to read again: keep
        answer, conf, frames = self._cache.verify(aware[-1], (self._answers[i], self._conf[i]))
        self._frames[i] = self._frames[i] | frames
        self._adopt(i, (answer, conf))

    def _adopt(self, i: int, answer_conf: tuple[str | None, float]) -> None:
        if answer_conf[0] is not None:
            self._answers[i], self._conf[i] = answer_conf

    def outcome(self) -> tuple[str | None, list[float], dict[str, Any]]:
        """The team's answer, each agent's reward and the episode's figures (score, frames)."""
        q = self._cache.question
        summariser = self.n - 1  # m1.team.cpp.summariser_index without a configured or stored choice
        team, method, _ = aggregate(q, dict(enumerate(self._answers)), summariser, self.cpp_cfg)
        cfg = self.reward_cfg
        team_s = score_question(q, team).score
        paid: set[int] = set()
        rewards = []
        for i in range(self.n):
            own_s = score_question(q, self._answers[i]).score
            s = {"team": team_s, "agent": own_s, "mixed": (team_s + own_s) / 2}[cfg.outcome]
            new = self._frames[i] - paid
            paid |= new
            rewards.append(float(cfg.wrong + (cfg.correct - cfg.wrong) * s - cfg.frame_cost * len(new)))
        info = {"qid": q.qid, "family": str(q.family.value if q.family else ""), "team_answer": team,
                "score": team_s, "frames": len(paid), "method": method}
        return team, rewards, info

    # ------------------------------------------------------------------ observation
    def _obs(self, i: int) -> np.ndarray:
        phase = np.zeros(2, np.float32)
        phase[min(self._phase, 1)] = 1.0
        who = np.zeros(MAX_AGENTS, np.float32)
        who[i] = 1.0
        skel = np.zeros(K + 1, np.float32)
        state = np.zeros(8, np.float32)
        if self._phase >= 1:
            skel[self._skel[i]] = 1.0
            mine = self._answers[i]
            given = [a for a in self._answers if a is not None]
            votes = Counter(given)
            others = [a for j, a in enumerate(self._answers) if j != i]
            state[:] = [
                float(mine is not None),
                self._conf[i],
                (sum(a == mine for a in others) / max(1, len(others))) if mine is not None else 0.0,
                float(mine is not None and votes[mine] == max(votes.values())),
                max(self._conf),
                len(given) / self.n,
                len(votes) / self.n,
                min(1.0, len(self._frames[i]) / FRAME_SCALE),
            ]
        return np.clip(np.concatenate([self._qfeat, phase, who, skel, state]), 0.0, 1.0).astype(np.float32)


def _majority(shown: list[tuple[str | None, float]]) -> tuple[str | None, float]:
    """The most frequent answer (ties: the most confident holder), with its best confidence."""
    votes = Counter(a for a, _ in shown if a is not None)
    if not votes:
        return None, 0.0
    best = max(votes.values())
    return max(((a, c) for a, c in shown if a is not None and votes[a] == best), key=lambda x: x[1])
