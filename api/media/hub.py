"""The live sessions of this process, by ident session id.

The hub creates a :class:`LiveSession` on the customer's first offer and keeps it across reconnects until
the ident session leaves its live states (``close``) or the process stops (``close_all``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from aiortc import RTCSessionDescription

from api.media.ice import IceConfig
from api.media.recorder import SegmentSink
from api.media.sampler import DEFAULT_ANALYSED_FPS
from api.media.sdp import validate_offer
from api.media.session import LiveAnalyzer, LiveSession, PeerRole

__all__ = ["LiveHub", "LiveObserver", "NoLiveSession", "RECONNECT_GRACE_S"]

#: A live session whose customer has been gone this long is closed (its recording flushed). Five minutes
#: covers a phone switching networks or a browser restart; the ident session itself expires separately.
RECONNECT_GRACE_S = 300.0
#: How often the hub looks for abandoned live sessions.
REAP_INTERVAL_S = 30.0


class NoLiveSession(LookupError):
    """The agent asked for a session whose customer has not connected (or that has ended)."""


class LiveObserver(Protocol):
    """Told when this process opens or closes a live session (the scaled mode's ownership and report
    publishing, :class:`api.media.cluster.LiveCluster`)."""

    def opened(self, session_id: str, live: LiveSession) -> None: ...

    async def closed(self, session_id: str) -> None: ...


class LiveHub:
    """``analyzer_factory(session_id)`` builds a fresh analyzer per session; ``sink`` stores the encrypted
    recording segments; ``observer`` (optional) hears of every session opened and closed here."""

    def __init__(
        self,
        ice: IceConfig,
        analyzer_factory: Callable[[str], LiveAnalyzer],
        sink: SegmentSink,
        analysed_fps: float = DEFAULT_ANALYSED_FPS,
    ) -> None:
        self.ice = ice
        self._analyzer_factory = analyzer_factory
        self._sink = sink
        self._analysed_fps = analysed_fps
        self._sessions: dict[str, LiveSession] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        self.reconnect_grace_s = RECONNECT_GRACE_S
        self.observer: LiveObserver | None = None

    def warmup(self) -> None:
        """Load the analyzer's engines now (blocking; call it from a thread at start-up), if it has any."""
        warm = getattr(self._analyzer_factory, "warmup", None)
        if callable(warm):
            warm()

    def get(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    async def customer_offer(self, session_id: str, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        """Answer the customer's offer; the first creates the live session, later ones reconnect into it."""
        validate_offer(sdp)  # a malformed offer creates no live session
        live = self._sessions.get(session_id)
        if live is None or live.closed:
            # Built outside the lock: a slow analyzer start must not hold up other customers.
            analyzer = await asyncio.to_thread(self._analyzer_factory, session_id)
            async with self._lock:
                live = self._sessions.get(session_id)
                if live is None or live.closed:
                    live = LiveSession(session_id, analyzer, self._sink, self.ice, self._analysed_fps)
                    self._sessions[session_id] = live
                    if self.observer is not None:
                        self.observer.opened(session_id, live)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="live-hub-reaper")
        return await live.accept_offer(PeerRole.CUSTOMER, sdp, kind)

    async def reap_once(self) -> list[str]:
        """Close the live sessions whose customer has been gone longer than the grace period."""
        now = time.monotonic()
        gone = [
            sid
            for sid, live in self._sessions.items()
            if live.disconnected_since is not None and now - live.disconnected_since > self.reconnect_grace_s
        ]
        for session_id in gone:
            await self.close(session_id)
        return gone

    async def _reap(self) -> None:
        while self._sessions:
            await asyncio.sleep(REAP_INTERVAL_S)
            await self.reap_once()

    async def agent_offer(self, session_id: str, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        """Answer the agent console's offer: it receives the customer's video and audio through the relay
        and sends the agent's camera and microphone, which the customer's page shows."""
        live = self._sessions.get(session_id)
        if live is None or live.closed:
            raise NoLiveSession(session_id)
        return await live.accept_offer(PeerRole.AGENT, sdp, kind)

    async def close(self, session_id: str) -> None:
        live = self._sessions.pop(session_id, None)
        if live is not None:
            await live.close()
            if self.observer is not None:
                await self.observer.closed(session_id)

    async def close_all(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for session_id in list(self._sessions):
            await self.close(session_id)
        close = getattr(self._analyzer_factory, "close", None)  # the analysis pool, when there is one
        if callable(close):
            await asyncio.to_thread(close)
