"""Settings of an OpenAI-compatible chat endpoint: the LLM teacher's, the judge's, and an
endpoint agent's (:mod:`m1.engines.endpoint`)."""

from __future__ import annotations

from pydantic import Field

from m1.config.base import StrictModel


class EndpointConfig(StrictModel):
    """An OpenAI-compatible chat endpoint (GPT-4o, DeepSeek-R1, a `vllm serve`): the teacher, the judge, or an
    endpoint agent. The key is read from the environment variable ``api_key_env``, never from a file."""

    base_url: str = Field("https://api.openai.com/v1", description="Endpoint root (…/v1).")
    model: str = Field("gpt-4o", min_length=1, description="Model name sent with each request.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature of the teacher.")
    max_tokens: int = Field(256, ge=1, description="Completion limit per request.")
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(5, ge=0, le=20, description="Retries after 429 / 5xx / connection errors.")
    backoff: float = Field(1.0, ge=0.0, description="First retry delay, seconds; doubles each retry.")
    max_backoff: float = Field(30.0, ge=0.0, description="Cap on one retry delay, seconds.")
    requests_per_minute: float = Field(60.0, gt=0, description="Client-side rate limit (evenly spaced requests).")
    structured_outputs: bool = Field(
        True, description="Send a constrained answer's pattern as vLLM's `structured_outputs` (m1.engines.constrain). "
        "A server that refuses the field (400/422, e.g. api.openai.com) is asked again without it, and no longer "
        "sent it, with a warning; the reply is then only parsed. Off: never sent.",
    )
    cache_path: str | None = Field(None, description="JSONL response cache; identical requests are not re-sent.")
    usage_log: str | None = Field(None, description="JSONL log of every request: tokens, cost, latency, cache hit.")
    usd_per_m_prompt: float = Field(2.5, ge=0.0, description="Price per million prompt tokens (cost log).")
    usd_per_m_completion: float = Field(10.0, ge=0.0, description="Price per million completion tokens (cost log).")
