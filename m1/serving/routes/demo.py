"""The web demo: ``GET /`` serves the page; its scripts and styles in :data:`STATIC` are mounted at
``/static`` by :func:`m1.serving.app.create_app` (a mount is not a route a router can carry)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def demo() -> FileResponse:
    return FileResponse(STATIC / "index.html")
