"""``GET /v1/traces/{trace_id}`` (the full record of an answer) and
``GET /v1/traces/{trace_id}/frames/{index}`` (its keyframe thumbnails, JPEG)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from m1.serving.episodes import ERRORS, EpisodesDep
from m1.serving.errors import ApiError
from m1.serving.types import TraceRecord

router = APIRouter()


@router.get("/v1/traces/{trace_id}", response_model=TraceRecord, responses=ERRORS)
async def trace(trace_id: str, ep: EpisodesDep) -> Response:
    found = await asyncio.to_thread(ep.service.store.get, trace_id) if len(trace_id) <= 64 else None
    if found is None:
        raise ApiError(404, "trace_not_found", f"no trace {trace_id!r} (unknown, or dropped after "
                       f"serve.max_traces={ep.cfg.max_traces} newer ones)")
    return Response(found, media_type="application/json")


@router.get("/v1/traces/{trace_id}/frames/{index}", responses={200: {"content": {"image/jpeg": {}}}, **ERRORS})
async def frame(trace_id: str, index: int, ep: EpisodesDep) -> Response:
    jpg = await asyncio.to_thread(ep.service.store.thumbnail, trace_id, index) if len(trace_id) <= 64 else None
    if not jpg:
        raise ApiError(404, "frame_not_found", f"no thumbnail {index} in trace {trace_id!r}")
    return Response(jpg, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
