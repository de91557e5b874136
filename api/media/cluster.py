"""Live sessions across workers: which worker owns a live session, and its latest report for every worker.

A live session (aiortc peers, recorder, analyzer) lives in one process. In the scaled mode
(``VIDEOIDENT_REDIS_URL`` set, several workers behind one address) the worker that creates one records an
**owner lease** in Redis and renews it while the session lives:

- ``<prefix>live:owner:<session id>`` -> ``{"worker": id, "url": internal URL}``, TTL :data:`LEASE_TTL_S`,
  renewed every :data:`RENEW_INTERVAL_S` with compare-and-set (only the holder renews or releases it);
  released when the live session closes. A worker that dies (SIGKILL, host lost) stops renewing, so its
  sessions can be taken over after at most :data:`LEASE_TTL_S`, at once if a forward to it is refused.
- ``<prefix>live:worker:<worker id>`` -> its internal URL, same TTL: the registry of live workers.
- ``<prefix>live:report:<session id>``: the newest snapshot of the session's live report, statistics,
  check status and guidance (TTL :data:`REPORT_TTL_S`), and a pub/sub channel of the same name that gets
  every new snapshot (at most one per :data:`PUBLISH_MIN_INTERVAL_S`). Snapshots hold what the analyzer
  read from the document (possibly name, document number), so they are sealed with AES-256-GCM under a key
  derived from the master key (HKDF): Redis may persist them to disk, and a Redis dump reveals nothing.

Requests that need the live session are sent to its owner by :mod:`api.media.cluster_proxy`; requests
between workers carry :data:`INTERNAL_HEADER`, an HMAC-SHA256 over the request line and a timestamp with a
key derived from the master key (:class:`InternalAuth`). Without Redis none of this runs: the single process
keeps every live session, as before.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.exceptions import RedisError

from videoident.crypto import DecryptionError, open_sealed, seal
from videoident.redis_client import connect, connect_async
from videoident.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    import redis

    from api.media.hub import LiveHub
    from api.media.session import LiveSession

__all__ = [
    "INTERNAL_HEADER",
    "LEASE_TTL_S",
    "InternalAuth",
    "LiveCluster",
    "RemoteLive",
    "WorkerAddress",
    "worker_address",
]

log = logging.getLogger(__name__)

#: How long an owner lease outlives its last renewal. A dead worker's sessions can be taken over after at
#: most this long; the customer page reconnects with back-off 0.5-8 s (docs/live.md), so a reconnect lands
#: within about two of its attempts. Short enough for that, long enough to ride out two missed renewals.
LEASE_TTL_S = 15.0
#: Renewal period: three renewals per TTL, so one late renewal (a loaded event loop, a slow Redis) never
#: loses the lease.
RENEW_INTERVAL_S = 5.0
#: The newest report snapshot is kept this long after the last update (two TTLs: a console that polls a
#: session whose owner just died still sees the last state until the takeover).
REPORT_TTL_S = 30.0
#: At most one snapshot per this interval: the console polls the live view every ~1 s (POLL_CALL_MS in
#: api/static/console/app.js) and the analyzer bumps the session at up to 5 Hz.
PUBLISH_MIN_INTERVAL_S = 0.5
#: The owner re-reads the ident session's status this often and ends live media whose session left the
#: live statuses (expired, decided) on another worker.
STATUS_CHECK_INTERVAL_S = 15.0
#: The header that marks a request forwarded by another worker (stripped when it does not verify).
INTERNAL_HEADER = "x-videoident-internal"
#: A forwarded request's timestamp may differ this much from the receiver's clock (workers run NTP; the
#: forward itself takes milliseconds). Bounds the replay window of a captured header.
INTERNAL_MAX_SKEW_S = 30.0
_FORWARD_INFO = b"videoident/inter-worker-hmac/v1"
_REPORT_INFO = b"videoident/live-report/v1"
_REPORT_AAD = "videoident/live-report/v1|"

# Compare-and-set scripts: only the holder of a lease renews or releases it; a dead holder's lease is
# replaced only if it still names that holder.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_REPLACE = (
    "local v = redis.call('get', KEYS[1]) "
    "if v == false or v == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0"
)


def _text(value: bytes | str | None) -> str | None:
    """A Redis reply as text (the clients decode to ``str``; bytes only if a caller passes its own)."""
    return value.decode() if isinstance(value, bytes) else value


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


@dataclass(frozen=True)
class WorkerAddress:
    """A worker as other workers reach it: its id and the internal URL only workers use."""

    worker_id: str
    internal_url: str

    def __post_init__(self) -> None:
        if not self.worker_id or not self.internal_url.startswith(("http://", "https://")):
            raise ValueError("a worker needs an id and an http(s) internal URL")

    def to_json(self) -> str:
        return json.dumps({"url": self.internal_url, "worker": self.worker_id}, sort_keys=True)

    @property
    def internal_port(self) -> int:
        parsed = urlsplit(self.internal_url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    @classmethod
    def from_json(cls, text: str | None) -> WorkerAddress | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["worker"]), str(data["url"]))
        except (ValueError, KeyError, TypeError):
            return None


def worker_address(settings: Settings) -> WorkerAddress:
    """This process as a worker: ``VIDEOIDENT_WORKER_ID`` / ``VIDEOIDENT_WORKER_INTERNAL_URL`` (set by
    ``videoident serve --workers N``), else ``<host name>-<pid>`` at the address the process listens on."""
    worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    url = settings.worker_internal_url
    if not url:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 - a comparison
        url = f"http://{host}:{settings.port}"
    return WorkerAddress(worker_id, url.rstrip("/"))


class InternalAuth:
    """Signs and verifies :data:`INTERNAL_HEADER`: ``<worker id>.<unix s>.<hex HMAC-SHA256>`` over the
    sender, the time, the method and the path with query. The key is HKDF(master key): every worker of an
    installation holds it, nobody outside does."""

    def __init__(self, master_key: bytes, worker_id: str, clock: Callable[[], float] = time.time) -> None:
        self._key = _derive(master_key, _FORWARD_INFO)
        self._worker_id = worker_id
        self._clock = clock

    def _mac(self, sender: str, at_s: int, method: str, target: str) -> str:
        message = f"{sender}\n{at_s}\n{method.upper()}\n{target}".encode()
        return hmac.new(self._key, message, sha256).hexdigest()

    def sign(self, method: str, target: str) -> str:
        at_s = int(self._clock())
        return f"{self._worker_id}.{at_s}.{self._mac(self._worker_id, at_s, method, target)}"

    def verify(self, value: str, method: str, target: str) -> str | None:
        """The sending worker's id if ``value`` is a fresh, valid signature of this request, else None."""
        parts = value.rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        sender, at_text, mac = parts
        at_s = int(at_text)
        if abs(self._clock() - at_s) > INTERNAL_MAX_SKEW_S:
            return None
        if not hmac.compare_digest(mac, self._mac(sender, at_s, method, target)):
            return None
        return sender


@dataclass(frozen=True)
class RemoteLive:
    """A live session's newest snapshot as published by its owner (any worker reads it).

    ``report``: :meth:`LiveSession.report` (sections with verdicts, ``injection``, ``live``); ``stats``:
    :meth:`LiveSession.stats`; ``checks``: verdict per check; ``at_s``: unix time of the snapshot."""

    session_id: str
    worker_id: str
    version: int
    at_s: float
    closed: bool
    connection: str
    report: dict[str, Any]
    stats: dict[str, Any]
    checks: dict[str, str]
    guidance: tuple[str, ...]

    def age_s(self, now_s: float | None = None) -> float:
        return (time.time() if now_s is None else now_s) - self.at_s


class LiveCluster:
    """This worker's part of the cluster: its registry entry, the leases of its live sessions, their
    published snapshots, and the client that forwards requests to other workers.

    Built and started in the app's lifespan when ``settings.redis_url`` is set; the live hub reports each
    session it opens and closes (:meth:`opened`, :meth:`closed`)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.me = worker_address(settings)
        #: With ``--workers`` each worker listens on the public port and on its own internal port; then only
        #: requests that arrived on the internal one may carry the inter-worker header.
        self.separate_internal_port = self.me.internal_port != settings.port
        self.auth = InternalAuth(settings.master_key_bytes, self.me.worker_id, clock)
        self._report_key = _derive(settings.master_key_bytes, _REPORT_INFO)
        self._prefix = settings.redis_prefix
        self._clock = clock
        self._redis: aioredis.Redis | None = None
        self._sync: redis.Redis | None = None
        self.http: httpx.AsyncClient | None = None
        self._hub: LiveHub | None = None
        self._is_live: Callable[[str], bool] | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    # ---- keys ---------------------------------------------------------------------------------------
    def owner_key(self, session_id: str) -> str:
        return f"{self._prefix}live:owner:{session_id}"

    def worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}live:worker:{worker_id}"

    def report_key(self, session_id: str) -> str:
        return f"{self._prefix}live:report:{session_id}"

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = connect_async(self.settings)
        return self._redis

    # ---- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Register this worker (and keep it registered) and open the forwarding client."""
        # trust_env=False: a proxy from the environment must never see requests between workers.
        self.http = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(30.0, connect=2.0))
        try:
            await self._register()
        except RedisError as exc:
            log.warning("live cluster: Redis did not answer at start-up (%s); retrying", type(exc).__name__)
        self._heartbeat = asyncio.create_task(self._beat(), name="live-cluster-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        for session_id in list(self._watchers):
            await self.closed(session_id)
        try:
            await self.redis.delete(self.worker_key(self.me.worker_id))
        except RedisError:
            pass
        if self.http is not None:
            await self.http.aclose()
        await self.redis.aclose()
        if self._sync is not None:
            self._sync.close()

    async def _register(self) -> None:
        await self.redis.set(self.worker_key(self.me.worker_id), self.me.internal_url, px=int(LEASE_TTL_S * 1000))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(RENEW_INTERVAL_S)
            try:
                await self._register()
            except RedisError as exc:
                log.warning("live cluster: worker registration failed (%s)", type(exc).__name__)

    async def workers(self) -> dict[str, str]:
        """The registered (live) workers: id -> internal URL."""
        found: dict[str, str] = {}
        prefix = self.worker_key("")
        async for key in self.redis.scan_iter(match=prefix + "*"):
            url = _text(await self.redis.get(key))
            if url:
                found[str(_text(key))[len(prefix):]] = url
        return found

    def attach(self, hub: LiveHub, is_live: Callable[[str], bool] | None = None) -> None:
        """The hub whose sessions this worker owns; ``is_live(session_id)`` (blocking, run in a thread)
        says whether the ident session is still in a live status."""
        self._hub = hub
        self._is_live = is_live

    # ---- leases -------------------------------------------------------------------------------------
    async def owner(self, session_id: str) -> WorkerAddress | None:
        return WorkerAddress.from_json(_text(await self.redis.get(self.owner_key(session_id))))

    async def claim(self, session_id: str, replacing: WorkerAddress | None = None) -> WorkerAddress | None:
        """Make this worker the owner if the session has none (or still names ``replacing``, a worker found
        dead). Returns the owner afterwards: this worker, or whoever claimed it first."""
        previous = replacing.to_json() if replacing is not None else ""
        await self.redis.eval(_REPLACE, 1, self.owner_key(session_id), previous, self.me.to_json(),
                              int(LEASE_TTL_S * 1000))
        return await self.owner(session_id)

    async def release(self, session_id: str) -> None:
        """Give up this worker's lease (no effect if another worker holds it)."""
        await self.redis.eval(_RELEASE, 1, self.owner_key(session_id), self.me.to_json())

    async def _renew(self, session_id: str) -> bool:
        renewed = await self.redis.eval(_RENEW, 1, self.owner_key(session_id), self.me.to_json(),
                                        int(LEASE_TTL_S * 1000))
        return bool(renewed)

    # ---- the hub's sessions -------------------------------------------------------------------------
    def opened(self, session_id: str, live: LiveSession) -> None:
        """The hub created a live session here: hold its lease and publish its snapshots."""
        old = self._watchers.pop(session_id, None)
        if old is not None:
            old.cancel()
        self._watchers[session_id] = asyncio.create_task(self._watch(session_id, live),
                                                         name=f"live-owner-{session_id[:8]}")

    async def closed(self, session_id: str) -> None:
        """The hub closed the live session: publish that it ended and release the lease."""
        task = self._watchers.pop(session_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        try:
            await self._publish_sealed(session_id, {
                "worker": self.me.worker_id, "version": -1, "at_s": self._clock(), "closed": True,
                "connection": "closed", "report": {}, "stats": {}, "checks": {}, "guidance": []})
            await self.release(session_id)
        except RedisError as exc:
            log.warning("live cluster: could not release a lease (%s); it expires by itself", type(exc).__name__)

    async def _watch(self, session_id: str, live: LiveSession) -> None:
        """Renew the lease, publish changes, and end the session here if the lease was lost (another worker
        took over while this one could not reach Redis) or the ident session is no longer live."""
        published = -1
        published_at = 0.0
        renewed_at = time.monotonic()
        next_renew = 0.0
        next_status = time.monotonic() + STATUS_CHECK_INTERVAL_S
        while not live.closed:
            now = time.monotonic()
            try:
                if now >= next_renew:
                    if await self._renew(session_id):
                        renewed_at = now
                    elif not await self._reclaim(session_id):
                        log.warning("live cluster: lease of a live session lost to another worker; closing it here")
                        await self._close_here(session_id)
                        return
                    next_renew = now + RENEW_INTERVAL_S
                if live.version != published and now - published_at >= PUBLISH_MIN_INTERVAL_S:
                    published = live.version
                    published_at = now
                    await self._publish(session_id, live)
            except RedisError as exc:
                log.warning("live cluster: Redis error while owning a live session (%s)", type(exc).__name__)
                next_renew = now + 1.0
                if now - renewed_at > LEASE_TTL_S:  # another worker may have taken it over meanwhile
                    await self._close_here(session_id)
                    return
            if self._is_live is not None and now >= next_status:
                next_status = now + STATUS_CHECK_INTERVAL_S
                if not await asyncio.to_thread(self._still_live, session_id):
                    await self._close_here(session_id)
                    return
            wait_s = max(0.05, min(next_renew - time.monotonic(), PUBLISH_MIN_INTERVAL_S))
            if live.version == published:
                await live.wait_changed(published, wait_s)
            else:
                await asyncio.sleep(max(0.0, published_at + PUBLISH_MIN_INTERVAL_S - time.monotonic()))

    async def _reclaim(self, session_id: str) -> bool:
        """The lease expired (not taken by another worker): take it again."""
        owner = await self.claim(session_id)
        return owner == self.me

    def _still_live(self, session_id: str) -> bool:
        assert self._is_live is not None
        try:
            return self._is_live(session_id)
        except Exception:  # noqa: BLE001 - a database hiccup must not end a call
            log.warning("live cluster: could not read a session's status", exc_info=True)
            return True

    async def _close_here(self, session_id: str) -> None:
        if self._hub is not None:
            await self._hub.close(session_id)

    # ---- snapshots ----------------------------------------------------------------------------------
    async def _publish(self, session_id: str, live: LiveSession) -> None:
        await self._publish_sealed(session_id, {
            "worker": self.me.worker_id, "version": live.version, "at_s": self._clock(), "closed": live.closed,
            "connection": live.connection_state, "report": live.report(), "stats": live.stats(),
            "checks": live.check_status(), "guidance": list(live.guidance)})

    async def _publish_sealed(self, session_id: str, snapshot: dict[str, Any]) -> None:
        plaintext = json.dumps(snapshot, default=str).encode()
        value = base64.b64encode(seal(self._report_key, plaintext, (_REPORT_AAD + session_id).encode())).decode()
        key = self.report_key(session_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, value, px=int(REPORT_TTL_S * 1000))
            pipe.publish(key, value)
            await pipe.execute()

    def _open(self, session_id: str, value: str | None) -> RemoteLive | None:
        if not value:
            return None
        try:
            sealed = base64.b64decode(value)
            data = json.loads(open_sealed(self._report_key, sealed, (_REPORT_AAD + session_id).encode()))
            return RemoteLive(session_id, str(data["worker"]), int(data["version"]), float(data["at_s"]),
                              bool(data["closed"]), str(data["connection"]), dict(data["report"]),
                              dict(data["stats"]), dict(data["checks"]), tuple(data["guidance"]))
        except (ValueError, KeyError, TypeError, DecryptionError):
            log.warning("live cluster: an unreadable live snapshot (another installation's key?)")
            return None

    def latest(self, session_id: str) -> RemoteLive | None:
        """The newest snapshot of a live session owned by any worker (blocking: call it from a thread).
        None when there is none (not live, or its owner has been gone longer than :data:`REPORT_TTL_S`)."""
        if self._sync is None:
            self._sync = connect(self.settings)
        return self._open(session_id, _text(self._sync.get(self.report_key(session_id))))

    async def latest_async(self, session_id: str) -> RemoteLive | None:
        return self._open(session_id, _text(await self.redis.get(self.report_key(session_id))))

    async def wait_update(self, session_id: str, version: int, timeout_s: float) -> RemoteLive | None:
        """The next snapshot whose version differs from ``version`` (pub/sub), or the newest one after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(self.report_key(session_id))
            current = await self.latest_async(session_id)  # after subscribing: no update slips between
            if current is not None and current.version != version:
                return current
            while (remaining := deadline - time.monotonic()) > 0:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
                if message is None:
                    continue
                snapshot = self._open(session_id, _text(message.get("data")))
                if snapshot is not None and snapshot.version != version:
                    return snapshot
            return current
        finally:
            await pubsub.aclose()
