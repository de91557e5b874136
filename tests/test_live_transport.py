"""The live session's transport with real aiortc peers on loopback: frames reach the analyzer off the
event loop, guidance comes back on the data channel, the recording is segmented, the agent gets the
customer's stream through the relay, and a dropped connection reconnects into the same session."""

from __future__ import annotations

import io

import aioice.ice
import av
import pytest

from api.media.hub import LiveHub, NoLiveSession
from api.media.ice import IceConfig, loopback_host_addresses
from tests.test_live_support import Customer, LevelAnalyzer, MemorySink, SyntheticCamera, read_index, wait_until


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> IceConfig:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)
    return IceConfig(loopback_only=True)


async def test_frames_reach_the_analyzer_and_guidance_comes_back(loopback: IceConfig) -> None:
    analyzers: dict[str, LevelAnalyzer] = {}

    def factory(session_id: str) -> LevelAnalyzer:
        analyzers[session_id] = LevelAnalyzer()
        return analyzers[session_id]

    sink = MemorySink()
    hub = LiveHub(loopback, factory, sink, analysed_fps=5.0)
    camera = SyntheticCamera(level=40)  # dark: the analyzer asks for more light
    customer = Customer(camera)
    try:
        answer = await hub.customer_offer("s1", await customer.offer())
        assert "x-google-start-bitrate" in answer.sdp
        await customer.accept(answer)
        live = hub.get("s1")
        assert live is not None
        assert await wait_until(lambda: len(analyzers["s1"].indices) >= 5)
        assert await wait_until(lambda: ["more_light"] in customer.guidance())
        # Frames arrive in order and are real frames of this camera (their drawn index).
        indices = analyzers["s1"].indices
        assert indices == sorted(indices) and indices[-1] < camera.sent
        assert analyzers["s1"].sizes == {(640, 480)}
        # Sampling at 5 fps of a 15 fps camera: most frames are skipped, none queued.
        stats = live.sampler.stats()
        assert stats.offered > stats.due >= stats.analysed
        assert live.codecs["video"] in {"VP8", "H264"}
        # Brighter picture: the guidance is withdrawn.
        camera.level = 200
        assert await wait_until(lambda: customer.guidance() and customer.guidance()[-1] == [])
        # The camera settings reported on the data channel reach the injection check.
        assert await wait_until(lambda: live.injection.settings is not None)
        report = live.report()
        assert report["injection"]["camera_label"] == "HD Pro Webcam C920"
        assert report["live"]["frames_received"] > 0
    finally:
        await customer.pc.close()
        await hub.close_all()
    # The recording was flushed on close into decodable H.264 segments.
    assert sink.segments
    info, data = sink.segments[-1]
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == info.video_frames > 0
    assert (frames[0].width, frames[0].height) == (640, 480)
    # The customer's sound is in the recording too.
    assert sum(i.audio_frames for i, _ in sink.segments) > 0
    with av.open(io.BytesIO(data)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert sum(1 for _ in container.decode(audio=0)) > 0


async def test_reconnect_continues_the_same_session_and_the_agent_sees_the_customer(loopback: IceConfig) -> None:
    analyzer = LevelAnalyzer()
    hub = LiveHub(loopback, lambda _sid: analyzer, MemorySink(), analysed_fps=5.0)
    first = Customer(SyntheticCamera())
    agent = Customer(SyntheticCamera(level=90), label="Agent cam")
    second: Customer | None = None
    try:
        with pytest.raises(NoLiveSession):
            await hub.agent_offer("s2", await agent.offer())
        await agent.pc.close()
        await first.accept(await hub.customer_offer("s2", await first.offer()))
        live = hub.get("s2")
        assert live is not None
        assert await wait_until(lambda: len(analyzer.indices) >= 3)

        # The agent receives the customer's picture through the relay, and the customer the agent's.
        agent = Customer(SyntheticCamera(level=90), label="Agent cam")
        await agent.accept(await hub.agent_offer("s2", await agent.offer()))
        assert await wait_until(lambda: len(agent.received_video) >= 3)
        assert await wait_until(lambda: len(first.received_video) >= 3)
        customer_frame = agent.received_video[-1].to_ndarray(format="bgr24")
        assert abs(float(customer_frame[100:200, 100:200].mean()) - 160) < 20  # the customer's grey
        agent_frame = first.received_video[-1].to_ndarray(format="bgr24")
        assert abs(float(agent_frame[100:200, 100:200].mean()) - 90) < 20  # the agent's grey

        # The network drops; the page reconnects with a new peer into the same live session.
        await live.drop_customer()
        before = len(analyzer.indices)
        agent_frames_before = len(agent.received_video)
        second = Customer(SyntheticCamera(level=170))
        await second.accept(await hub.customer_offer("s2", await second.offer()))
        assert hub.get("s2") is live
        assert await wait_until(lambda: len(analyzer.indices) >= before + 3)
        assert live.connects == 2 and live.injection.reconnects == 1
        assert await wait_until(lambda: live.disconnected_since is None)
        assert await hub.reap_once() == []  # connected again: kept
        # The agent's relay continues without renegotiation and shows the new connection's frames.
        assert await wait_until(lambda: len(agent.received_video) > agent_frames_before + 5)
        frame = agent.received_video[-1].to_ndarray(format="bgr24")
        assert abs(float(frame[100:200, 100:200].mean()) - 170) < 20
        assert read_index(frame) < second.camera.sent  # type: ignore[attr-defined]
    finally:
        for peer in (first, agent, second):
            if peer is not None:
                await peer.pc.close()
        await hub.close_all()


async def test_an_abandoned_live_session_is_closed_after_the_grace_period(loopback: IceConfig) -> None:
    sink = MemorySink()
    hub = LiveHub(loopback, lambda _sid: LevelAnalyzer(), sink, analysed_fps=5.0)
    customer = Customer(SyntheticCamera())
    try:
        await customer.accept(await hub.customer_offer("s3", await customer.offer()))
        live = hub.get("s3")
        assert live is not None
        assert await wait_until(lambda: live.frames_received >= 15)
        await live.drop_customer()
        assert await hub.reap_once() == []  # within the grace period
        hub.reconnect_grace_s = 0.0
        assert await hub.reap_once() == ["s3"]
        assert hub.get("s3") is None and live.closed
        assert sink.segments  # the recording was flushed when it closed
    finally:
        await customer.pc.close()
        await hub.close_all()
