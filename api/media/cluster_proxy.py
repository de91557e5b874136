"""Send the requests that need a live session to the worker that owns it (scaled mode only).

An ASGI middleware, installed by :func:`api.app.create_app` when ``VIDEOIDENT_REDIS_URL`` is set, so no
router needs a per-route change. It routes:

- ``POST /ident/{token}/api/offer`` (the customer's offer, first or reconnect): to the owner of the live
  session. A session without an owner is claimed by the worker that received the offer; one whose owner
  is dead (its lease expired, or a forward to it is refused) is **taken over**: this worker replaces the
  lease and builds a new live session, into which the customer's page reconnects.
- ``/console/api/calls/{id}/{action}`` for the actions in :data:`FORWARDED_CONSOLE_ACTIONS` (the agent's
  offer, captures, zoom, live view, confirmations, decision, release): to the owner while the session is
  live there, so the agent's media, stills from the customer's frames, the console's per-call memory and
  the closing of the recording before a decision all happen where the media is.

Everything else is served where it lands. A forward keeps the method, the headers (less hop-by-hop ones)
and the body (streamed both ways), and adds :data:`api.media.cluster.INTERNAL_HEADER`, signed with a key
derived from the master key; the receiving worker serves a request carrying a valid one locally (never
forwards it again). A header that does not verify (sent from outside), or that arrives on the public port of
a worker that has a separate internal port, is removed before routing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from redis.exceptions import RedisError

from api.media.cluster import INTERNAL_HEADER, LiveCluster, WorkerAddress
from videoident.errors import CoreError

__all__ = ["FORWARDED_CONSOLE_ACTIONS", "LiveRoutingMiddleware"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The console's call endpoints that act on (or read from) the live media, or keep per-call memory.
FORWARDED_CONSOLE_ACTIONS = frozenset({"offer", "capture", "document.jpg", "live", "confirm", "decision", "release"})
_CUSTOMER_OFFER = re.compile(r"^/ident/(?P<token>[^/]+)/api/offer$")
_CONSOLE_CALL = re.compile(r"^/console/api/calls/(?P<session>[^/]+)/(?P<action>[^/]+)$")
_INTERNAL = INTERNAL_HEADER.encode()
#: Headers that describe one connection, not the request (RFC 9110 7.6.1), plus Host (set per hop).
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                         b"trailer", b"transfer-encoding", b"upgrade", b"host"})


class _Replay:
    """``receive`` that first returns the body messages already read (for serving locally after a
    forward that failed before the owner took the body)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.read: list[Message] = []
        self._replay: list[Message] = []

    async def __call__(self) -> Message:
        if self._replay:
            return self._replay.pop(0)
        message = await self._receive()
        self.read.append(message)
        return message

    def rewind(self) -> None:
        self._replay, self.read = list(self.read), []


class LiveRoutingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cluster: LiveCluster | None = getattr(scope["app"].state, "live_cluster", None)
        internal = _take_internal_header(scope)
        if scope["type"] != "http" or cluster is None:
            await self.app(scope, receive, send)
            return
        if internal is not None and _on_internal_socket(scope, cluster) \
                and cluster.auth.verify(internal, scope["method"], _target(scope)) is not None:
            await self.app(scope, receive, send)  # forwarded by another worker: served here, never again
            return
        if internal is not None:
            log.warning("a request with an invalid inter-worker header (stripped)")
        path: str = scope["path"]
        if (match := _CUSTOMER_OFFER.match(path)) and scope["method"] == "POST":
            session_id = await _session_of_token(scope, match["token"])
            if session_id is not None:
                await self._customer_offer(cluster, session_id, scope, receive, send)
                return
        elif (match := _CONSOLE_CALL.match(path)) and match["action"] in FORWARDED_CONSOLE_ACTIONS:
            await self._console_call(cluster, match["session"], scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _customer_offer(self, cluster: LiveCluster, session_id: str, scope: Scope, receive: Receive,
                              send: Send) -> None:
        replay = _Replay(receive)
        try:
            owner = await cluster.owner(session_id)
            if owner is None:
                owner = await cluster.claim(session_id)
            if owner is not None and owner != cluster.me:
                if await self._forward(cluster, owner, scope, replay, send):
                    return
                log.warning("live owner %s unreachable: this worker takes the session over", owner.worker_id)
                replay.rewind()
                owner = await cluster.claim(session_id, replacing=owner)
                if owner is not None and owner != cluster.me:  # a third worker took it over first
                    if await self._forward(cluster, owner, scope, replay, send):
                        return
                    replay.rewind()
        except RedisError as exc:
            await _unavailable(send, exc)
            return
        await self.app(scope, replay, send)
        hub = getattr(scope["app"].state, "live_hub", None)
        if hub is None or hub.get(session_id) is None:  # refused (not live, bad offer): hold no lease
            try:
                await cluster.release(session_id)
            except RedisError:
                pass

    async def _console_call(self, cluster: LiveCluster, session_id: str, scope: Scope, receive: Receive,
                            send: Send) -> None:
        replay = _Replay(receive)
        try:
            owner = await cluster.owner(session_id)
            if owner is not None and owner != cluster.me:
                if await self._forward(cluster, owner, scope, replay, send):
                    return
                replay.rewind()
                await cluster.claim(session_id, replacing=owner)  # dead: free its sessions for takeover
                await cluster.release(session_id)
        except RedisError as exc:
            await _unavailable(send, exc)
            return
        await self.app(scope, replay, send)  # local: served by the live session here, or "not connected"

    async def _forward(self, cluster: LiveCluster, owner: WorkerAddress, scope: Scope, receive: _Replay,
                       send: Send) -> bool:
        """Proxy the request to ``owner``; False if it could not be reached (nothing was sent back yet)."""
        assert cluster.http is not None
        target = _target(scope)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        headers.append((_INTERNAL, cluster.auth.sign(scope["method"], target).encode()))

        async def body() -> Any:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        # A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3): send none.
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _v in scope["headers"])
        request = cluster.http.build_request(scope["method"], owner.internal_url + target, headers=headers,
                                             content=body() if has_body else None)
        try:
            response = await cluster.http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            return False
        except httpx.HTTPError as exc:
            log.warning("forward to live owner %s failed: %s", owner.worker_id, type(exc).__name__)
            await _problem(send, 502, "the worker holding this live session did not answer")
            return True
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:  # the owner died mid-response: end the truncated response
            log.warning("forward to live owner %s broke off: %s", owner.worker_id, type(exc).__name__)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
        return True


def _target(scope: Scope) -> str:
    """The request's path and query as sent (``raw_path`` keeps the client's encoding)."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _on_internal_socket(scope: Scope, cluster: LiveCluster) -> bool:
    """Whether the request may come from another worker: it arrived on this worker's internal port (when the
    worker has one apart from the public port, as with ``serve --workers``)."""
    if not cluster.separate_internal_port:
        return True
    server = scope.get("server")
    return server is not None and server[1] == cluster.me.internal_port


def _take_internal_header(scope: Scope) -> str | None:
    """Remove :data:`INTERNAL_HEADER` from the request (routers never see it) and return its value."""
    value = None
    kept = []
    for key, item in scope["headers"]:
        if key.lower() == _INTERNAL:
            value = item.decode("latin-1")
        else:
            kept.append((key, item))
    if value is not None:
        scope["headers"] = kept
    return value


async def _session_of_token(scope: Scope, token: str) -> str | None:
    """The ident session behind a customer link (None if unknown or ended: the router answers 404)."""
    service = getattr(getattr(scope["app"].state, "bank", None), "service", None)
    if service is None:
        return None
    try:
        view = await asyncio.to_thread(service.session_by_token, token)
    except CoreError:
        return None
    return str(view.id)


async def _problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


async def _unavailable(send: Send, exc: Exception) -> None:
    log.warning("live routing: Redis did not answer (%s)", type(exc).__name__)
    await _problem(send, 503, "the live service is briefly unavailable; retry")
