"""Endpoint agents: a policy agent whose generator is any OpenAI-compatible chat endpoint
(GPT-4o, a ``vllm serve``, …), and the chat client it shares with the LLM teacher.

- :class:`ChatClient` sends ``/v1/chat/completions`` requests with retries (429 / 5xx /
  connection errors, exponential back-off honouring ``Retry-After``), a per-request timeout, a
  client-side rate limit, a JSONL response cache (identical requests are not re-sent) and a JSONL
  usage/cost log. The key is read from the environment variable the config names.
- :class:`EndpointEngine` puts the :class:`~m1.engines.base.Generator` protocol on it. Each prompt
  goes out as one user turn after a system prompt that states the plan language of the moment
  (plan / revision / answer, :data:`SYSTEM_PROMPTS`) — an untrained chat model is told the
  format, which the trained team learnt. A team of endpoint agents is the paper's "untrained
  4×GPT-4o team" baseline. Completions are text only: no token ids and no log-probs leave a chat
  endpoint, so an endpoint agent cannot be trained (:meth:`EndpointEngine.compute_logprobs` and
  :meth:`~EndpointEngine.update_weights` raise, and MARL/SFT refuse such a team up front).

Token counting for prompt fitting uses the tokenizer of ``AgentSpec.path`` when the endpoint
serves a model that is also on disk, else the UTF-8 byte length (an upper bound on the token
count of any byte-level tokenizer), so a prompt never overflows the context it is given.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from m1.engines.base import Completion, EngineError, SamplingSettings

SYSTEM_PROMPTS: dict[str, str] = {
    "plan": "You plan video-tool calls. Reply with the plan only: one step per line, numbered from 1, "
    'each `N. tool {json args}` using only the listed tools, e.g.\n1. rough_browser {}\n2. fine_browser {"start":0,'
    '"end":20}\nArguments may reference an earlier step: "$1.start".',
    "revision": "You revise a video-tool plan after reading results. Reply with exactly `KEEP` (run the rest "
    "of the plan), `DONE` (enough evidence, answer now) or the new remaining steps, numbered from the "
    "`Next:` number, one `N. tool {json}` per line. No other text.",
    "answer": "Answer the question from the evidence. Reply with the answer only: one option letter for "
    "multiple_choice, a number for numeric, `start end` in seconds for grounding.",
}
_FENCE_RE = re.compile(r"^```[a-z]*\n?|\n?```$")
_THINK_RE = re.compile(r"<think>.*?</think>", re.S)  # DeepSeek-R1 style reasoning is not a plan

TRAINING_NEEDS_WEIGHTS = (
    "agent {name!r} generates through an endpoint ({url}); training needs local weights: a chat endpoint "
    "returns neither token ids nor log-probabilities and cannot load new weights. Give the agent a "
    "checkpoint (AgentSpec.path) and engine hf or vllm to train it"
)


class EndpointError(EngineError):
    """The endpoint refused a request, retries ran out, or an endpoint agent was asked to train."""


def clean_reply(text: str) -> str:
    """Strip reasoning blocks, code fences and surrounding blank space from a chat reply."""
    text = _THINK_RE.sub("", text or "").strip()
    return _FENCE_RE.sub("", text).strip()


def phase_of(prompt: str) -> str:
    """Which moment a rendered CPP prompt asks for, from its final cue line (``Plan:``,
    ``Next: …`` or ``Answer:``; see :mod:`m1.team.plan`)."""
    tail = prompt.rstrip("\n").rsplit("\n", 1)[-1]
    if tail.startswith("Next:"):
        return "revision"
    if tail.startswith("Answer:"):
        return "answer"
    return "plan"


class ChatClient:
    """An OpenAI-compatible chat endpoint (``cfg``: :class:`m1.config.EndpointConfig`).

    ``usage`` accumulates requests, cache hits, retries, tokens and cost. ``clock``/``sleep`` are
    injectable so the rate limit and back-off are testable without waiting on a wall clock."""

    error_cls: type[Exception] = EndpointError

    def __init__(self, cfg: Any, client: Any = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg
        if client is None:
            import openai  # noqa: PLC0415  (only endpoint users need it)

            client = openai.OpenAI(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "EMPTY",
                                   timeout=cfg.timeout, max_retries=0)  # retries are ours: counted and logged
        self.client = client
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.usage = {"requests": 0, "cached": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0,
                      "cost_usd": 0.0}
        self._cache: dict[str, str] = {}
        self._rejects_structured = False  # the server answered 400/422 to structured_outputs
        if cfg.cache_path and Path(cfg.cache_path).is_file():
            for line in Path(cfg.cache_path).read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self._cache[rec["key"]] = rec["text"]

    def _params(self, temperature: float | None, max_tokens: int | None, seed: int | None,
                pattern: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.cfg.temperature if temperature is None else temperature,
            "max_tokens": self.cfg.max_tokens if max_tokens is None else max_tokens,
        }
        if seed is not None:
            params["seed"] = seed
        if pattern is not None and self.cfg.structured_outputs and not self._rejects_structured:
            params["extra_body"] = {"structured_outputs": {"regex": pattern}}
        return params

    def request_key(self, messages: list[dict[str, str]], **params: Any) -> str:
        body = {"model": self.cfg.model, "messages": messages, **(params or self._params(None, None, None))}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def chat(self, messages: list[dict[str, str]], temperature: float | None = None, max_tokens: int | None = None,
             seed: int | None = None, pattern: str | None = None) -> str:
        """One chat completion's text: from the cache, or from the endpoint (rate-limited, retried).
        Unset ``temperature``/``max_tokens`` come from the config; ``pattern`` constrains the reply
        where the server takes vLLM's ``structured_outputs`` (``cfg.structured_outputs``)."""
        params = self._params(temperature, max_tokens, seed, pattern)
        key = self.request_key(messages, **params)
        with self._lock:
            if key in self._cache:
                self.usage["cached"] += 1
                self._log({"key": key, "cached": True, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
                           "attempts": 0, "seconds": 0.0})
                return self._cache[key]
        t0, attempts, refusal = self.clock(), 0, None
        while True:
            attempts += 1
            self._wait_for_slot()
            try:
                resp = self.client.chat.completions.create(model=self.cfg.model, messages=messages, **params)
                break
            except Exception as e:  # noqa: BLE001 - classified below; non-retryable ones are re-raised typed
                if "extra_body" in params and _rejected_request(e):
                    # perhaps a server that does not take vLLM's structured_outputs: ask again without it
                    refusal, params = e, {k: v for k, v in params.items() if k != "extra_body"}
                    continue
                delay = self._retry_delay(e, attempts)
                if delay is None:
                    raise self.error_cls(f"endpoint {self.cfg.base_url} failed: {type(e).__name__}: {e}") from e
                with self._lock:
                    self.usage["retries"] += 1
                self.sleep(delay)
        if refusal is not None:  # the same request without the field went through: the field was refused
            warnings.warn(f"endpoint {self.cfg.base_url} rejected structured_outputs ({refusal}); answers from it "
                          "are no longer constrained (set endpoint.structured_outputs=false to skip the attempt)",
                          stacklevel=2)
            self._rejects_structured = True
        if not resp.choices:
            raise self.error_cls(f"endpoint {self.cfg.base_url} returned no choices")
        text = resp.choices[0].message.content or ""
        pt = int(getattr(resp.usage, "prompt_tokens", 0) or 0) if resp.usage else 0
        ct = int(getattr(resp.usage, "completion_tokens", 0) or 0) if resp.usage else 0
        cost = (pt * self.cfg.usd_per_m_prompt + ct * self.cfg.usd_per_m_completion) / 1e6
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += pt
            self.usage["completion_tokens"] += ct
            self.usage["cost_usd"] += cost
            self._cache[key] = text
            if self.cfg.cache_path:
                Path(self.cfg.cache_path).parent.mkdir(parents=True, exist_ok=True)
                with open(self.cfg.cache_path, "a") as f:
                    f.write(json.dumps({"key": key, "text": text}) + "\n")
            self._log({"key": key, "cached": False, "prompt_tokens": pt, "completion_tokens": ct,
                       "cost_usd": round(cost, 8), "attempts": attempts, "seconds": round(self.clock() - t0, 4)})
        return text

    def _wait_for_slot(self) -> None:
        interval = 60.0 / self.cfg.requests_per_minute
        with self._lock:
            now = self.clock()
            start = max(now, self._next_slot)
            self._next_slot = start + interval
        if start > now:
            self.sleep(start - now)

    def _retry_delay(self, err: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying ``err`` (None: do not retry)."""
        import openai  # noqa: PLC0415

        if attempt > self.cfg.max_retries:
            return None
        retryable = isinstance(err, openai.RateLimitError | openai.APIConnectionError | openai.APITimeoutError) or (
            isinstance(err, openai.APIStatusError) and err.status_code >= 500)
        if not retryable:
            return None
        delay = min(self.cfg.max_backoff, self.cfg.backoff * 2 ** (attempt - 1))
        response = getattr(err, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            try:
                delay = min(self.cfg.max_backoff, max(delay, float(header)))
            except ValueError:
                pass  # an HTTP-date Retry-After: keep our own back-off
        return delay

    def _log(self, record: dict[str, Any]) -> None:
        if self.cfg.usage_log:
            Path(self.cfg.usage_log).parent.mkdir(parents=True, exist_ok=True)
            with open(self.cfg.usage_log, "a") as f:
                f.write(json.dumps({"time": time.time(), "model": self.cfg.model, **record}) + "\n")


def _rejected_request(err: Exception) -> bool:
    """The server refused the request itself (400 / 422), e.g. a field it does not know."""
    import openai  # noqa: PLC0415

    return isinstance(err, openai.APIStatusError) and err.status_code in (400, 422)


class EndpointEngine:
    """A :class:`~m1.engines.base.Generator` over a chat endpoint (inference only, see module doc).

    ``tokenizer`` (optional) is the served model's, used only to count prompt tokens; completions
    carry empty id and log-prob lists."""

    def __init__(self, cfg: Any, name: str = "endpoint", tokenizer: Any = None, client: Any = None):
        self.cfg, self.name, self.tokenizer = cfg, name, tokenizer
        self.chat = ChatClient(cfg, client=client)

    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        out = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise EndpointError(f"endpoint agent {self.name!r}: prompts must be text, not token ids")
            messages = [{"role": "system", "content": SYSTEM_PROMPTS[phase_of(prompt)]},
                        {"role": "user", "content": prompt}]
            seed = None if settings.seed is None else settings.seed + i
            text = clean_reply(self.chat.chat(messages, temperature=settings.temperature,
                                              max_tokens=settings.max_new_tokens, seed=seed, pattern=settings.pattern))
            reason = "stop"
            for stop in settings.stop:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            out.append(Completion(prompt_ids=[], completion_ids=[], text=text, logprobs=[], finish_reason=reason))
        return out

    def _no_training(self) -> EndpointError:
        return EndpointError(TRAINING_NEEDS_WEIGHTS.format(name=self.name, url=self.cfg.base_url))

    def compute_logprobs(self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
                         ) -> list[list[float]]:
        raise self._no_training()

    def update_weights(self, state: dict[str, Any]) -> None:
        raise self._no_training()


def check_trainable(agents: Sequence[Any]) -> None:
    """Raise :class:`EndpointError` if any agent (an :class:`m1.config.AgentSpec`) is an endpoint agent."""
    for spec in agents:
        if spec.engine == "endpoint":
            url = spec.endpoint.base_url if spec.endpoint is not None else "no endpoint configured"
            raise EndpointError(TRAINING_NEEDS_WEIGHTS.format(name=spec.name, url=url))
