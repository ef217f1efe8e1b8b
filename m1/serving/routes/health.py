"""``GET /healthz`` (the team, its back-ends, the stored traces; 503 while a back-end actor the
replica needs is dead) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from m1.serving.episodes import ERRORS, EpisodesDep
from m1.serving.errors import ApiError
from m1.serving.types import Health

router = APIRouter()


@router.get("/healthz", response_model=Health, responses={503: ERRORS[504]})
async def healthz(ep: EpisodesDep) -> Health:
    service = ep.service
    if dead := await asyncio.to_thread(service.unhealthy):
        raise ApiError(503, "backends_unavailable", f"this replica cannot answer: {', '.join(dead)} died; "
                       "it is being replaced")
    count = await asyncio.to_thread(service.store.count)
    return Health(status="ok", team=service.names, backends="ray" if service.on_ray else "local", traces=count)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(ep: EpisodesDep) -> PlainTextResponse:
    return PlainTextResponse(ep.metrics.render(), media_type="text/plain; version=0.0.4")
