"""The live sessions of this process, by ident session id.

The hub creates a :class:`LiveSession` on the customer's first offer and keeps it across reconnects until
the ident session leaves its live states (``close``) or the process stops (``close_all``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCSessionDescription

from api.media.ice import IceConfig
from api.media.recorder import SegmentSink
from api.media.sampler import DEFAULT_ANALYSED_FPS
from api.media.session import LiveAnalyzer, LiveSession, PeerRole

__all__ = ["LiveHub", "NoLiveSession"]


class NoLiveSession(LookupError):
    """The agent asked for a session whose customer has not connected (or that has ended)."""


class LiveHub:
    """``analyzer_factory(session_id)`` builds a fresh analyzer per session; ``sink`` stores the encrypted
    recording segments."""

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

    def get(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    async def customer_offer(self, session_id: str, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        """Answer the customer's offer; the first creates the live session, later ones reconnect into it."""
        async with self._lock:
            live = self._sessions.get(session_id)
            if live is None or live.closed:
                analyzer = await asyncio.to_thread(self._analyzer_factory, session_id)
                live = LiveSession(session_id, analyzer, self._sink, self.ice, self._analysed_fps)
                self._sessions[session_id] = live
        return await live.accept_offer(PeerRole.CUSTOMER, sdp, kind)

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

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
