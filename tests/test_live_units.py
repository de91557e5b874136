"""The live-media building blocks on their own: SDP munging, loopback candidates, the newest-frame
sampler, injection signals and the segmented recorder."""

from __future__ import annotations

import fractions
import io
import re
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from api.media.ice import IceConfig, MediaSettings, keep_loopback_candidates
from api.media.injection import CaptureSettings, InjectionMonitor, is_virtual_camera
from api.media.recorder import SEGMENT_S, EncryptedRecorder
from api.media.sampler import NewestFrameSampler
from api.media.sdp import BITRATE_720P, Bitrate, allow_bitrate, negotiated_codecs
from pipelines.results import Verdict
from tests.test_live_support import MemorySink


async def _real_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTrack(VideoStreamTrack())
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_bitrate_goes_on_every_video_codec_and_nowhere_else() -> None:
    sdp = allow_bitrate(await _real_offer(), BITRATE_720P)
    video = sdp.split("m=video", 1)[1]
    audio = sdp.split("m=audio", 1)[1].split("m=video", 1)[0]
    params = BITRATE_720P.fmtp_params()
    assert "x-google" not in audio
    for codec in ("VP8", "H264"):
        pts = [line.split(":")[1].split()[0] for line in video.splitlines() if f" {codec}/90000" in line]
        assert pts, codec
        for pt in pts:
            fmtp = [line for line in video.splitlines() if line.startswith(f"a=fmtp:{pt} ")]
            assert len(fmtp) == 1 and fmtp[0].endswith(params), fmtp
    rtx = [line.split(":")[1].split()[0] for line in video.splitlines() if " rtx/90000" in line]
    for pt in rtx:
        assert all("x-google" not in line for line in video.splitlines() if line.startswith(f"a=fmtp:{pt} "))
    # Idempotent, and H264's own parameters are kept.
    assert allow_bitrate(sdp) == sdp
    assert "packetization-mode=1" in sdp
    assert negotiated_codecs(sdp) == {"audio": "opus", "video": "VP8"}


def test_bitrate_values_are_ordered() -> None:
    with pytest.raises(ValueError):
        Bitrate(min_kbps=3000, start_kbps=2000, max_kbps=2500)


def test_loopback_mode_keeps_only_loopback_candidates() -> None:
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0\r\n"
        "a=candidate:2 1 udp 2122194687 127.0.0.1 50001 typ host generation 0\r\n"
        "a=candidate:3 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n"
    )
    kept = keep_loopback_candidates(sdp)
    assert "127.0.0.1 50001" in kept and "192.0.2.2" not in kept
    assert IceConfig(loopback_only=False).prepare_offer(sdp) == sdp


def test_ice_servers_come_only_from_the_operator() -> None:
    assert IceConfig.from_settings(MediaSettings()).rtc_configuration().iceServers == []
    config = IceConfig.from_settings(
        MediaSettings(ice_servers="stun:stun.bank.example:3478,turn:u:p@turn.bank.example")
    )
    servers = config.rtc_configuration().iceServers or []
    assert [s.urls for s in servers] == ["stun:stun.bank.example:3478", "turn:turn.bank.example"]
    assert (servers[1].username, servers[1].credential) == ("u", "p")
    with pytest.raises(ValueError):
        MediaSettings(ice_servers="http://example.org")


def test_sampler_keeps_the_newest_frame_and_counts_the_stale_ones() -> None:
    gate, started = threading.Event(), threading.Event()
    seen: list[int] = []

    def analyse(item: int) -> None:
        started.set()
        gate.wait(5)
        seen.append(item)

    sampler: NewestFrameSampler[int] = NewestFrameSampler(analyse, analysed_fps=10.0)
    try:
        # 30 fps for one second while the worker is stuck on the first frame.
        sampler.offer(0, 0.0)
        assert started.wait(5)
        for i in range(1, 30):
            sampler.offer(i, i / 30)
        time.sleep(0.05)
        gate.set()
        deadline = time.monotonic() + 5
        while sampler.stats().analysed < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = sampler.stats()
    finally:
        sampler.close()
    # 10 of the 30 were due; the worker took the first, then only the newest one survived.
    assert stats.offered == 30 and stats.due == 10
    assert seen == [0, 27]
    assert stats.dropped == 8 and stats.analysed == 2
    assert stats.dropped_ratio == pytest.approx(0.8)


def test_sampler_survives_a_broken_frame() -> None:
    def analyse(item: int) -> None:
        if item == 0:
            raise ValueError("corrupted frame")

    sampler: NewestFrameSampler[int] = NewestFrameSampler(analyse, analysed_fps=100.0)
    sampler.offer(0, 0.0)
    time.sleep(0.1)
    sampler.offer(1, 1.0)
    time.sleep(0.1)
    stats = sampler.stats()
    sampler.close()
    assert (stats.errors, stats.analysed) == (1, 1)


@pytest.mark.parametrize(
    ("label", "virtual"),
    [
        ("OBS Virtual Camera", True),
        ("ManyCam Virtual Webcam", True),
        ("fake_device_0", True),
        ("XSplit VCam", True),
        ("/tmp/scene.y4m", True),
        ("C:\\Users\\x\\replay.mp4", True),
        ("HD Pro Webcam C920 (046d:082d)", False),
        ("FaceTime HD Camera", False),
        ("Front Camera", False),
    ],
)
def test_virtual_camera_labels(label: str, virtual: bool) -> None:
    assert is_virtual_camera(label) is virtual


def _feed(monitor: InjectionMonitor, frames: int, fps: float, size: tuple[int, int] = (1280, 720)) -> None:
    for i in range(frames):
        monitor.record(size[0], size[1], i / fps)


def test_injection_verdicts() -> None:
    webcam = CaptureSettings("HD Pro Webcam C920", 1280, 720, 30.0)
    monitor = InjectionMonitor()
    _feed(monitor, 10, 30)
    assert monitor.result().reason.code == "camera_not_reported"
    monitor.report_settings(webcam)
    assert monitor.result().verdict is Verdict.INCONCLUSIVE  # too few frames
    _feed(monitor, 60, 30, (640, 360))  # the encoder scaled down: same aspect, still consistent
    result = monitor.result()
    assert result.verdict is Verdict.PASS and result.measurements["timing"]["fps"] == pytest.approx(30, rel=0.01)

    switched = InjectionMonitor(settings=webcam)
    _feed(switched, 40, 30)
    _feed(switched, 40, 30, (640, 480))
    assert switched.result().reason.code == "source_switched"

    mismatch = InjectionMonitor(settings=CaptureSettings("Integrated Camera", 640, 480, 15.0))
    _feed(mismatch, 60, 15, (1280, 720))
    assert mismatch.result().reason.code == "resolution_mismatch"

    too_fast = InjectionMonitor(settings=CaptureSettings("Integrated Camera", 1280, 720, 15.0))
    _feed(too_fast, 90, 60)
    assert too_fast.result().reason.code == "frame_rate_mismatch"

    obs = InjectionMonitor(settings=CaptureSettings("OBS Virtual Camera", 1280, 720, 30.0))
    _feed(obs, 60, 30)
    assert obs.result().verdict is Verdict.FAIL and obs.result().reason.code == "virtual_camera"


def _video_frame(width: int, height: int, level: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8), format="bgr24")
    frame.pts, frame.time_base = 0, fractions.Fraction(1, 90_000)
    return frame


def test_recorder_writes_decodable_segments_and_starts_a_new_one_on_a_size_change() -> None:
    sink = MemorySink()
    recorder = EncryptedRecorder("sess-rec", sink, max_fps=10.0)
    t = 0.0
    for i in range(int(SEGMENT_S * 10) + 5):  # a bit more than one segment at 10 fps
        recorder.offer_video(_video_frame(320, 240, i % 200), t)
        t += 0.1
    for _ in range(5):
        recorder.offer_video(_video_frame(240, 320, 100), t)  # the phone turned
        t += 0.1
    segments = recorder.close()
    assert [s.index for s in segments] == [0, 1, 2]
    assert [(s.width, s.height) for s in segments] == [(320, 240), (320, 240), (240, 320)]
    assert segments[0].end_s - segments[0].start_s < SEGMENT_S
    total = 0
    for info, data in sink.segments:
        with av.open(io.BytesIO(data)) as container:
            decoded = list(container.decode(video=0))
        assert len(decoded) == info.video_frames
        assert (decoded[0].width, decoded[0].height) == (info.width, info.height)
        total += len(decoded)
    assert total == int(SEGMENT_S * 10) + 10 and recorder.stats()["dropped"] == 0


def test_agent_code_is_bound_to_the_session_and_the_master_key() -> None:
    from api.media.verification import agent_code

    key, other_key = bytes(range(32)), bytes(range(1, 33))
    code = agent_code(key, "session-a")
    assert re.fullmatch(r"\d{3} \d{3}", code)
    assert agent_code(key, "session-a") == code  # the bank's app computes the same code
    codes = {agent_code(key, f"session-{i}") for i in range(200)}
    assert len(codes) > 190  # spread over a million values
    assert agent_code(other_key, "session-a") != code  # without the master key it cannot be derived


def test_sampler_rate_holds_with_a_jittery_camera_and_restarts_after_a_reconnect() -> None:
    import random

    sampler: NewestFrameSampler[int] = NewestFrameSampler(lambda item: None, analysed_fps=5.0)
    rng = random.Random(1)
    try:
        for i in range(150):  # 10 s of a 15 fps camera whose frames arrive +-5 ms off their slot
            sampler.offer(i, i / 15 + rng.uniform(-0.005, 0.005))
        due_before = sampler.stats().due
        for i in range(15):  # a reconnect: frame times start again near zero
            sampler.offer(1000 + i, i / 15)
        stats = sampler.stats()
    finally:
        sampler.close()
    assert 49 <= due_before <= 51  # 5 per second, not every 4th frame (3.75 per second)
    assert stats.due - due_before == 5  # t = 0, 0.2, 0.4, 0.6, 0.8 of the new connection


def test_the_live_analyzer_is_composed_like_videoident_analyze(tmp_path: Path) -> None:
    from api.media.analysis import session_analyzer_factory
    from videoident.settings import Settings

    build = session_analyzer_factory(Settings(data_dir=tmp_path), mrz=True, face=False)
    report = build("session-x").report()
    # The MRZ stage is part of it (with or without the model it reports, never "not part of this build").
    assert report["mrz"]["reason"]["code"] != "not_implemented"
    assert {"quality", "document", "tilt", "hologram", "mrz", "face", "liveness"} <= set(report)
