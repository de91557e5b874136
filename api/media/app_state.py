"""The live hub of one FastAPI app, built on first use and closed with the app.

``app.state.live_hub`` may be set beforehand (tests, a deployment with its own analyzer); otherwise it is
built from :class:`api.media.ice.MediaSettings`, the session analyzer of ``pipelines`` and a recording sink
that seals every segment into the evidence vault through the core service. In the scaled mode
(``app.state.live_cluster`` set by the app's lifespan) the hub reports its sessions to the cluster, which
holds their owner leases and publishes their reports (:mod:`api.media.cluster`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.media.cluster import LiveCluster
from api.media.hub import LiveHub
from api.media.ice import IceConfig, MediaSettings, browser_ice_servers, install_loopback_gathering
from api.media.recorder import SegmentInfo
from api.media.session import LiveAnalyzer
from videoident.errors import CoreError
from videoident.service import IdentService
from videoident.settings import Environment, Settings, UnsafeSettingsError
from videoident.states import SessionStatus
from videoident.vault import EvidenceKind

__all__ = ["VaultSegmentSink", "live_hub", "media_settings", "page_ice_servers", "RECORDING_MEDIA_TYPE"]

log = logging.getLogger(__name__)

RECORDING_MEDIA_TYPE = "video/x-matroska"
#: Ident session statuses in which live media may run (as the customer router's ``LIVE_STATUSES``).
LIVE_MEDIA_STATUSES = frozenset({SessionStatus.WAITING, SessionStatus.IN_CALL, SessionStatus.REVIEW})


class VaultSegmentSink:
    """Seals each recording segment into the evidence vault (AES-256-GCM with the session's data key)."""

    def __init__(self, service: IdentService) -> None:
        self._service = service

    def store_segment(self, session_id: str, info: SegmentInfo, data: bytes) -> None:
        try:
            self._service.store_evidence(session_id, EvidenceKind.RECORDING_SEGMENT, data, RECORDING_MEDIA_TYPE)
        except ValueError as exc:  # the session ended (erased, expired) while the segment was encoded
            log.warning("recording segment %d of a session not stored: %s", info.index, type(exc).__name__)


def default_analyzer_factory(
    settings: Settings | None = None, service: IdentService | None = None
) -> Callable[[str], LiveAnalyzer]:
    """The session analyzer of ``videoident analyze`` (MRZ and face engines loaded on the first session)."""
    from api.media.analysis import session_analyzer_factory

    return session_analyzer_factory(settings, service)


def live_hub(app: FastAPI, service: IdentService) -> LiveHub:
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is None:
        settings: Settings = app.state.settings
        ice = IceConfig.from_settings(media_settings(app))
        if ice.loopback_only:
            if settings.environment is Environment.PRODUCTION:
                raise UnsafeSettingsError("VIDEOIDENT_WEBRTC_LOOPBACK_ONLY is for tests only")
            install_loopback_gathering()
        factory = getattr(app.state, "live_analyzer_factory", None) or default_analyzer_factory(settings, service)
        hub = LiveHub(ice, factory, VaultSegmentSink(service))
        cluster: LiveCluster | None = getattr(app.state, "live_cluster", None)
        if cluster is not None:
            hub.observer = cluster
            cluster.attach(hub, lambda session_id: _is_live(service, session_id))
        app.state.live_hub = hub
    return hub


def media_settings(app: FastAPI) -> MediaSettings:
    """The app's live-media settings, read from the environment once (a test may set ``app.state.media_settings``)."""
    media: MediaSettings | None = getattr(app.state, "media_settings", None)
    if media is None:
        media = app.state.media_settings = MediaSettings()
    return media


def page_ice_servers(app: FastAPI, label: str) -> list[dict[str, Any]]:
    """The ``iceServers`` a page (customer or console) passes to ``new RTCPeerConnection``: the operator's
    STUN servers and TURN with credentials valid for :data:`api.media.ice.DEFAULT_TURN_CREDENTIAL_TTL_S`."""
    return browser_ice_servers(media_settings(app), label, time.time())


def _is_live(service: IdentService, session_id: str) -> bool:
    """Whether the ident session is still in a status with live media (blocking: a database read)."""
    try:
        return service.get_session(session_id).status in LIVE_MEDIA_STATUSES
    except CoreError:  # erased
        return False
