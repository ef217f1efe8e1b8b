"""The API's routes, one :class:`fastapi.APIRouter` per concern (as vLLM attaches one router per
endpoint family); :func:`m1.serving.app.create_app` includes them in this order:

- :mod:`.health` — ``GET /healthz`` and ``GET /metrics``;
- :mod:`.answer` — ``GET /v1/samples`` and ``POST /v1/answer`` (JSON or multipart, plain or SSE);
- :mod:`.completions` — ``POST /v1/chat/completions`` (OpenAI-compatible);
- :mod:`.traces` — ``GET /v1/traces/{id}`` and its keyframe thumbnails;
- :mod:`.demo` — the web demo page ``/`` (its ``/static`` files are mounted by the app).

Routes hold no state: the service, limits, metrics and thread pool come from the app through the
dependency :data:`m1.serving.episodes.EpisodesDep`. Authentication and body limits are the app's
middleware (:class:`m1.serving.app.Guard`), not per-route checks.
"""
