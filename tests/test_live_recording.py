"""The recording's last open segment and the end of a session: the vault takes no evidence of an ended
session, so a decision taken while the live media still runs (the supervisor rejects during review, the
bank aborts) lost up to ``SEGMENT_S`` of recording. ``LiveSession.flush_recording`` seals the open segment
before the decision; the recording then goes on in a new segment while the session stays live."""

from __future__ import annotations

import io
from pathlib import Path

import aioice.ice
import av
import pytest

from api.media.ice import loopback_host_addresses
from api.media.recorder import SEGMENT_S
from tests.test_live_support import (
    Customer,
    LevelAnalyzer,
    SyntheticCamera,
    make_customer_app,
    new_customer_session,
    wait_until,
)
from videoident import audit
from videoident.states import ActorType, Decision, ReasonCode
from videoident.vault import EvidenceKind

#: Recorded video frames expected in the flushed segment: 30 received frames of a 15 fps camera, of which
#: the recorder (at most 10 fps) keeps every other one.
RECORDED_BEFORE_DECISION = 12


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


def _decoded_frames(service: object, session_id: str) -> list[int]:
    """Video frames in each stored recording segment, decoded from the vault (in storage order)."""
    auditor = audit.Actor(ActorType.SUPERVISOR, "auditor")
    counts = []
    for evidence in service.list_evidence(session_id):  # type: ignore[attr-defined]
        assert evidence.kind == EvidenceKind.RECORDING_SEGMENT.value
        _view, data = service.read_evidence(session_id, evidence.id, auditor, export=False)  # type: ignore[attr-defined]
        with av.open(io.BytesIO(data)) as container:
            counts.append(sum(1 for _ in container.decode(video=0)))
    return counts


async def test_a_flushed_segment_survives_a_rejection_before_the_live_media_closes(tmp_path: Path) -> None:
    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    hub = app.state.live_hub
    session_id, _token = new_customer_session(service)
    service.customer_joined(session_id)
    service.start_call(session_id, "agent-1")
    customer = Customer(SyntheticCamera())
    try:
        await customer.accept(await hub.customer_offer(session_id, await customer.offer()))
        live = hub.get(session_id)
        assert live is not None
        assert await wait_until(lambda: live.recorder.stats()["segments"] == 0 and live.frames_received >= 30)
        # Within the first segment (well under SEGMENT_S of video): nothing is stored yet.
        assert live.session_time_s() < SEGMENT_S and service.list_evidence(session_id) == []
        info = await live.flush_recording()
        assert info is not None and info.video_frames >= RECORDED_BEFORE_DECISION
        # The decision ends the session while its media still runs (no hub.close first).
        service.decide(session_id, "agent-1", Decision.REJECTED, ReasonCode.DOCUMENT_FORGERY_SUSPECTED)
        # Recording went on after the flush, in a new segment, until the media closes.
        assert await wait_until(lambda: live.frames_received >= 50)
    finally:
        await customer.pc.close()
        await hub.close_all()
    # The segment flushed before the decision is in the vault, whole (the one recorded after the decision
    # is refused by today's vault: the session has ended).
    stored = _decoded_frames(service, session_id)
    assert stored and stored[0] == info.video_frames
    assert len(live.recorder.segments) == 2  # the flushed one and the one after it


def test_flush_without_an_open_segment_and_after_close_returns_none() -> None:
    from api.media.recorder import EncryptedRecorder
    from tests.test_live_support import MemorySink

    sink = MemorySink()
    recorder = EncryptedRecorder("s-flush", sink)
    assert recorder.flush() is None and sink.segments == []
    recorder.close()
    assert recorder.flush() is None
