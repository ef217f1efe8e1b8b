"""Serving the team over HTTP: request validation, input policy, the FastAPI app and the web demo.

Framework-free pieces (testable without Ray or a server): :mod:`~m1.serving.inputs` (where a
video may come from, spooling with cleanup, limits), :mod:`~m1.serving.chat` (OpenAI chat
messages → :class:`m1.schema.Question`), :mod:`~m1.serving.metrics` (Prometheus text),
:mod:`~m1.serving.service` (runs episodes on the team's back-ends, records traces and keyframes).
:func:`m1.serving.app.create_app` assembles the FastAPI app from one router per concern
(:mod:`~m1.serving.routes`) over the shared request machinery of :mod:`~m1.serving.episodes`;
uvicorn (tests, ``m1 serve --local``) or a Ray Serve deployment (``jobs/serve.py``) serves it.
Nothing here imports Ray at module level.
"""
