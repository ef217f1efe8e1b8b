"""``GET /healthz`` (the team, its back-ends, the stored traces) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from m1.serving.episodes import EpisodesDep
from m1.serving.types import Health

router = APIRouter()


@router.get("/healthz", response_model=Health)
async def healthz(ep: EpisodesDep) -> Health:
    service = ep.service
    count = await asyncio.to_thread(service.store.count)
    return Health(status="ok", team=service.names, backends="ray" if service.on_ray else "local", traces=count)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(ep: EpisodesDep) -> PlainTextResponse:
    return PlainTextResponse(ep.metrics.render(), media_type="text/plain; version=0.0.4")
