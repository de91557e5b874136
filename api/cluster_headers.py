"""``X-Videoident-Worker: <worker id>`` on every HTTP response of a worker of ``videoident serve --workers N``.

It tells an operator (and the scale-out tests) which worker process answered; the id is the one the worker
registers its live sessions under (``VIDEOIDENT_WORKER_ID``, e.g. ``w1-host-4711``), no secret. A single
process (``--workers 1``) sends no header.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WORKER_HEADER", "WorkerHeaderMiddleware"]

WORKER_HEADER = "X-Videoident-Worker"


class WorkerHeaderMiddleware:
    """Pure ASGI middleware (no buffering, leaves WebSockets alone) adding :data:`WORKER_HEADER`."""

    def __init__(self, app: ASGIApp, worker_id: str) -> None:
        self.app = app
        self._header = (WORKER_HEADER.lower().encode(), worker_id.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self._header]}
            await send(message)

        await self.app(scope, receive, send_with_header)
