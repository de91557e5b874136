"""One error shape for the whole API: RFC 9457 problem details (``application/problem+json``).

Every 4xx says why, with a stable ``code``; a malformed request lists each offending field in ``errors``
(location and reason, never the submitted value, which may be personal data). A 5xx says nothing about
internals. Routers raise :class:`ApiProblem`; FastAPI's own errors are translated by the handlers here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROBLEM_MEDIA_TYPE", "ApiProblem", "FieldError", "Problem", "install_error_handlers", "problem_responses"]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class FieldError(BaseModel):
    loc: str = Field(description="Where: 'body.claimed_identity.birthdate', 'header.idempotency-key', ...")
    reason: str = Field(description="Why it was refused, in words.")
    type: str = Field(description="A stable machine code of the reason (pydantic's error type).")


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable ``code`` and the per-field ``errors`` of a 422."""

    type: str = Field(examples=["urn:videoident:problem:not_found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    code: str = Field(examples=["not_found"], description="Stable machine code; switch on this.")
    detail: str = Field(examples=["no such session"])
    errors: list[FieldError] = Field(default_factory=list)


class ApiProblem(Exception):
    """Raise from a router to answer with a problem body."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _CODES.get(status, "error")
        self.headers = dict(headers or {})
        self.errors = list(errors)


def problem_response(
    status: int, detail: str, code: str | None = None, headers: Mapping[str, str] | None = None,
    errors: Sequence[FieldError] = (),
) -> JSONResponse:
    code = code or _CODES.get(status, "error")
    body = Problem(
        type=f"urn:videoident:problem:{code}", title=_TITLES.get(status, "Error"), status=status, code=code,
        detail=detail, errors=list(errors),
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}),
                        media_type=PROBLEM_MEDIA_TYPE)


def _loc(parts: Sequence[Any]) -> str:
    return ".".join(str(p) for p in parts) or "request"


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (routes may be nested in included routers)."""
    methods = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


#: The largest request body the bank API reads: a session create is under 2 KiB; 64 KiB leaves room for
#: long names and URLs while a client cannot make the server buffer megabytes.
MAX_BODY_BYTES = 64 * 1024


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` under ``prefix`` with 413 (Content-Length or streamed)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1", max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.prefix, self.max_bytes = app, prefix, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        too_large = problem_response(413, f"the request body is larger than {self.max_bytes} bytes")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await too_large(scope, receive, send)


def install_error_handlers(app: FastAPI, prefix: str = "/v1") -> None:
    """Problem bodies for requests under ``prefix``; other routes (pages, console) keep FastAPI's defaults.
    Also caps request bodies under ``prefix`` (:data:`MAX_BODY_BYTES`)."""
    app.add_middleware(BodyLimitMiddleware, prefix=prefix)

    def ours(request: Request) -> bool:
        return request.url.path == prefix or request.url.path.startswith(prefix + "/")

    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(exc.status, exc.detail, exc.code, exc.headers, exc.errors)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not ours(request):
            return await request_validation_exception_handler(request, exc)
        errors = [
            FieldError(loc=_loc(err.get("loc", ())), reason=str(err.get("msg", "invalid")),
                       type=str(err.get("type", "invalid")))
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e.loc}: {e.reason}" for e in errors[:5])
        return problem_response(422, f"the request is not valid: {summary}", "invalid_request", errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not ours(request):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(exc.status_code, detail, headers=headers)

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s in a request", type(exc).__name__, exc_info=exc)
        return problem_response(500, "the server failed; the error was logged", "internal_error")

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the problem body for ``statuses``."""
    return {
        status: {"model": Problem, "description": _TITLES.get(status, "Error"),
                 "content": {PROBLEM_MEDIA_TYPE: {}}}
        for status in statuses
    }
