"""The one error type of the HTTP layer: a status, a machine-readable code and a message.

Responses follow OpenAI's error shape so that OpenAI clients surface the message::

    {"error": {"message": "...", "type": "invalid_request_error", "code": "path_not_allowed"}}

A 4xx message says what was wrong with the request; a 5xx caused by an unexpected exception
(:func:`server_failure`) says only what failed and an incident id, and logs the rest.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.exceptions import HTTPException

log = logging.getLogger("m1.serving")


class ApiError(HTTPException):
    """A refusal (4xx) or a failure (5xx) with a clear message; never a stack trace to the client.

    An ``HTTPException`` so that FastAPI passes it through unchanged when it is raised while the
    request body is read (other exceptions there become a generic 400)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status_code=status, detail=message)
        self.status, self.code, self.message = status, code, message

    def __str__(self) -> str:
        return self.message

    @property
    def kind(self) -> str:
        if self.status == 401:
            return "authentication_error"
        if self.status == 429:
            return "rate_limit_error"
        return "invalid_request_error" if self.status < 500 else "server_error"

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code}}


def server_failure(status: int, code: str, what: str, e: BaseException) -> ApiError:
    """A 5xx for an unexpected exception: the details (a Ray actor's id, pid, node address, a
    worker's exit text, a server path) go to the server log under a fresh incident id; the client
    gets ``what`` and that id, never the exception's text."""
    incident = uuid.uuid4().hex[:12]
    log.error("incident %s: %s (%s %s): %s: %s", incident, what, status, code, type(e).__name__, e,
              exc_info=(type(e), e, e.__traceback__))
    return ApiError(status, code, f"{what}; the server log has the details (incident {incident})")
