"""Settings of the serving app (:mod:`m1.serving`, ``jobs/serve.py``): where it listens, how it
scales, and the limits and policies that turn hostile or absurd requests into 4xx errors."""

from __future__ import annotations

from pydantic import Field, field_validator

from m1.config.base import StrictModel


class ServeConfig(StrictModel):
    """HTTP API, OpenAI-compatible endpoint and web demo. Every limit answers with a 4xx JSON error."""

    host: str = Field("127.0.0.1", description="Address the HTTP server binds (0.0.0.0 to expose it).")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (0: any free port, in-process server only).")
    replicas: int = Field(1, ge=1, le=64, description="Ray Serve replicas of the app; each holds its own back-ends.")
    replica_cpus: float = Field(0.1, ge=0.0, description="CPUs reserved per replica actor (its actors reserve theirs).")
    max_ongoing_requests: int = Field(16, ge=1, le=1024, description="Requests a replica accepts at once.")
    concurrency: int = Field(4, ge=1, le=256, description="Episodes a replica runs at once (Ray back-ends; "
                             "in-process back-ends run one at a time).")
    use_ray_backends: bool = Field(True, description="Replicas drive PolicyAgent/ToolWorker/SharedMemory actors "
                                   "(as in training); False: models and tools inside the replica process.")
    team_dir: str | None = Field(None, description="Team to serve; default <output_dir>/team (created untrained "
                                 "if missing).")
    api_key: str | None = Field(None, description="If set, /v1/* and /metrics need 'Authorization: Bearer KEY' or "
                                "'X-API-Key' (Prometheus: `authorization: {credentials: KEY}` in the scrape job).")
    metrics_public: bool = Field(False, description="Serve /metrics without the API key (request counts, error codes "
                                 "and latencies are then readable by anyone who can reach the port).")
    max_upload_mb: float = Field(200.0, gt=0, description="Largest request body / uploaded or fetched video, MiB.")
    max_video_seconds: float = Field(900.0, gt=0, description="Longest accepted video, seconds.")
    request_timeout: float = Field(300.0, gt=0, description="Seconds one question may take before a 504.")
    allowed_roots: list[str] = Field(default_factory=list, description="Directories whose videos may be named "
                                     "by path (after resolving symlinks); empty: paths are refused.")
    samples_dir: str | None = Field(None, description="Sample videos the demo offers (also readable by path).")
    allow_urls: bool = Field(False, description="Fetch videos from URLs (off by default).")
    url_schemes: list[str] = Field(default_factory=lambda: ["https", "http"], description="URL schemes accepted "
                                   "when allow_urls is on.")
    allow_private_urls: bool = Field(False, description="Allow URLs resolving to private, loopback, link-local or "
                                     "reserved addresses (only for trusted networks).")
    url_timeout: float = Field(30.0, gt=0, description="Seconds to fetch a video URL.")
    spool_dir: str | None = Field(None, description="Where request videos are spooled (default: the system "
                                  "temp dir); each request's files are removed when it ends.")
    max_traces: int = Field(256, ge=1, description="Finished traces kept for GET /v1/traces/{id} (oldest dropped).")
    thumbnails: int = Field(12, ge=0, le=64, description="Keyframe thumbnails kept per trace (0: times only).")
    thumbnail_side: int = Field(160, ge=32, le=640, description="Longer side of a keyframe thumbnail, pixels.")

    @field_validator("url_schemes")
    @classmethod
    def _schemes(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s.lower() not in ("http", "https")]
        if bad:
            raise ValueError(f"only http and https can be fetched, got {bad}")
        return [s.lower() for s in v]
