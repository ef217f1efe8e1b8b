"""The lmms-eval model ``videochat_m1``: the VideoChat-M1 team answering lmms-eval's requests.

    lmms-eval --model videochat_m1 --model_args team=runs/team,overrides="cpp.max_rounds=2" \\
        --tasks longvideobench_val_v --include_path DATA/lmms_tasks

``--model_args`` (comma-separated ``key=value``):

- ``team=DIR`` — the team directory (default: ``<output_dir>/team``, created untrained if missing,
  as ``m1 eval`` does); ``config=YAML`` and ``overrides="k=v;k=v"`` — the project's settings (the
  same layering as the CLI's ``--config`` and ``KEY=VALUE`` arguments; ``;`` separates overrides
  because ``,`` separates model args).
- ``system=team|no_comm|no_tools|solo|solver`` — what answers (the ``m1 eval`` systems; default team).
- ``ray=true`` — agents, tools and memory as Ray actors (needs ``ray`` importable here).
- ``serve_url=URL`` — send every question to a running ``m1 serve`` endpoint (``POST /v1/answer``)
  instead of running the team here; the server must be allowed to read the task's video paths;
  ``serve_api_key=KEY`` (or ``$M1_SERVE_API_KEY``) when it requires one.
- ``benchmark=NAME`` — the project loader that reads the task's documents (default: from the task
  name, see :mod:`m1_lmms.questions`).
- ``predictions=PATH`` — also append one JSON line per answered request (task, doc id, qid, the
  text returned, frames, seconds, tool calls).

Every answer is logged with its frames and seconds; the end of a batch logs frames and seconds
per query (mean, median). The model only generates: ``loglikelihood`` is refused with an error.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from loguru import logger
from tqdm import tqdm

from m1_lmms.questions import TaskDocError, benchmark_of_task, format_answer, question_from_doc
from m1_lmms.serve_client import ask_serve

SYSTEMS = ("team", "no_comm", "no_tools", "solo", "solver")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class VideoChatM1(lmms):
    """lmms-eval model running the VideoChat-M1 team (in this process, on Ray, or via Serve)."""

    is_simple = True

    def __init__(self, team: str | None = None, config: str | None = None, overrides: str = "",
                 system: str = "team", ray: Any = False, serve_url: str | None = None,
                 serve_api_key: str | None = None, benchmark: str | None = None, predictions: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        from m1.config import load_config

        unknown = sorted(k for k in kwargs if k not in {"batch_size", "max_batch_size", "device"})
        if unknown:
            raise ValueError(f"videochat_m1: unknown model_args {unknown}; known: team, config, overrides, system, "
                             "ray, serve_url, serve_api_key, benchmark, predictions")
        if system not in SYSTEMS:
            raise ValueError(f"videochat_m1: system={system!r}; choose one of {', '.join(SYSTEMS)}")
        self.cfg = load_config(config, [o.strip() for o in str(overrides or "").split(";") if o.strip()])
        self.system_name, self.benchmark = system, benchmark
        self.serve_url = str(serve_url).rstrip("/") if serve_url else None
        self.serve_api_key = str(serve_api_key) if serve_api_key else os.environ.get("M1_SERVE_API_KEY")
        self.predictions_path = Path(predictions) if predictions else None
        self.frames: list[int] = []
        self.seconds: list[float] = []
        self.team_dir: Path | None = None
        self._system = None if self.serve_url else self._build(team, _flag(ray))

    def _build(self, team: str | None, use_ray: bool):
        import torch

        torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
        if self.system_name == "solver":
            from m1.evaluation.harness import SolverSystem

            return SolverSystem(self.cfg.tools, self.cfg.video)
        if use_ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ValueError("videochat_m1: ray=true needs ray in this environment (pip install "
                                 "'ray[serve]==2.60.0'), or run `m1 serve` in the project's .venv and pass "
                                 "serve_url=") from None
        from actors.rollout import build_backends
        from m1.evaluation.harness import team_systems
        from m1.models import ensure_team, with_team_summariser

        self.team_dir = ensure_team(self.cfg, team).resolve()
        self.cfg = with_team_summariser(self.cfg, self.team_dir)
        backends = build_backends(self.cfg, self.team_dir, use_ray=use_ray)
        logger.info(f"videochat_m1: {self.system_name} of {list(backends.team.names)} from {self.team_dir} "
                    f"({'Ray actors' if use_ray else 'in-process'})")
        return team_systems([self.system_name], backends, self.cfg, str(self.team_dir))[self.system_name]

    # ------------------------------------------------------------------ answering

    def _answer(self, q) -> dict[str, Any]:
        if self.serve_url:
            # the server gives up after serve.request_timeout (a 504); wait a little longer than that
            return ask_serve(self.serve_url, q, self.cfg.serve.request_timeout + 30.0, self.serve_api_key)
        p = self._system.predict(q)
        return {"answer": p.prediction, "frames": p.frames, "seconds": p.seconds, "tool_calls": p.tool_calls,
                "error": p.error}

    def generate_until(self, requests: list[Instance]) -> list[str]:
        out: list[str] = []
        for req in tqdm(requests, disable=self.rank != 0, desc="videochat_m1"):
            _context, _gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            doc = self.task_dict[task][split][doc_id]
            visuals = doc_to_visual(doc)
            visuals = visuals if isinstance(visuals, list) else [visuals]
            if len(visuals) != 1 or not isinstance(visuals[0], str):
                kind = type(visuals[0]).__name__ if visuals else "-"
                raise TaskDocError(f"{task} document {doc_id}: videochat_m1 answers about one video file; the task "
                                   f"gave {len(visuals)} visual(s) of type {kind} (use the task's video variant, "
                                   "e.g. longvideobench_val_v)")
            q = question_from_doc(benchmark_of_task(task, self.benchmark), doc, visuals[0], task, doc_id)
            res = self._answer(q)
            text = format_answer(q, res["answer"])
            self.frames.append(res["frames"])
            self.seconds.append(res["seconds"])
            logger.info(f"videochat_m1 {task}[{doc_id}] {q.qid}: {text!r}  frames {res['frames']}  "
                        f"{res['seconds']:.2f} s  tool calls {res['tool_calls']}")
            if self.predictions_path is not None:
                self.predictions_path.parent.mkdir(parents=True, exist_ok=True)
                with self.predictions_path.open("a") as f:
                    f.write(json.dumps({"task": task, "doc_id": doc_id, "qid": q.qid, "system": self.system_name,
                                        "answer": res["answer"], "text": text, "frames": res["frames"],
                                        "seconds": res["seconds"], "tool_calls": res["tool_calls"]}) + "\n")
            out.append(text)
            self.cache_hook.add_partial("generate_until", (_context, _gen_kwargs), text)
        if self.frames:
            logger.info(f"videochat_m1: {len(self.frames)} queries, frames/query mean "
                        f"{statistics.mean(self.frames):.1f} median {statistics.median(self.frames):.1f}, "
                        f"seconds/query mean {statistics.mean(self.seconds):.2f} "
                        f"median {statistics.median(self.seconds):.2f}")
        return out

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError("videochat_m1 generates answers with a team of agents and tools; it scores no "
                                  "continuations (loglikelihood tasks are not supported)")

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError("videochat_m1 answers one question per request (no multi-round tasks)")
