"""The analysis pool with real spawn processes: a session pinned to a pool process reaches the same guidance
and verdicts as the in-thread analyzer on the same fixture frames; a frame arriving while the previous one
is analysed replaces the pending one (counted, never queued); a pool process killed with SIGKILL is
replaced, the session's analysis restarts (reported, logged without PII) and the server goes on."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.media.analysis import SessionAnalyzerAdapter, session_analyzer_factory
from api.media.pool import AnalysisPool, AnalysisProcessDied, PooledAnalyzer
from api.media.pool_worker import EngineSpec, build_session_analyzer, load_engines
from api.media.sampler import NewestFrameSampler
from pipelines.frame import Frame
from pipelines.identity import ClaimedIdentity

#: Fixture frames per test: enough for the tilt, document and MRZ stages to report, few enough to stay fast.
FRAMES = 8
#: The claimed surname: it must never appear in a log line of the pool.
SURNAME = "Mustermann"


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> list[Frame]:
    from fixtures.documents import Template
    from fixtures.scenes import SceneSpec, generate_scene

    scene = generate_scene(SceneSpec(Template.NL_ID, seed=2, size=(640, 480), seconds=FRAMES / 10.0, fps=10.0))
    return [frame for frame, _ in scene.frames()]


@pytest.fixture(scope="module")
def tessdata(shared_data: Path) -> Path:
    return shared_data / "tessdata"


@pytest.fixture(scope="module")
def pool(tessdata: Path) -> Iterator[AnalysisPool]:
    # MRZ engine only: the face engine's models would double the start-up; the face stage is the same code.
    pool = AnalysisPool(EngineSpec(tessdata, mrz=True, face=False), processes=1)
    pool.start()
    try:
        yield pool
    finally:
        pool.close()


def _claim() -> ClaimedIdentity:
    return ClaimedIdentity("Erika", SURNAME, dt.date(1983, 8, 12))


def _verdicts(report: object) -> dict[str, str]:
    assert isinstance(report, dict)
    return {
        name: section["verdict"]
        for name, section in report.items()
        if isinstance(section, dict) and "verdict" in section
    }


def test_a_pooled_session_reaches_the_same_guidance_and_verdicts_as_in_thread(
    pool: AnalysisPool, frames: list[Frame], tessdata: Path
) -> None:
    today = dt.date(2026, 11, 26)
    pooled = pool.open("session-a", _claim(), today)
    local = SessionAnalyzerAdapter(
        build_session_analyzer(load_engines(EngineSpec(tessdata, mrz=True, face=False)), _claim(), today)
    )
    try:
        for frame in frames:
            pooled.observe(frame)
            local.observe(frame)
            assert list(pooled.guidance()) == list(local.guidance()), frame.index
        assert _verdicts(pooled.report()) == _verdicts(local.report())
        # The MRZ is read with the MRZ model and compared with the printed zone (the stock eng model).
        engines = pooled.report()["engines"]["mrz"]
        assert "mrz.traineddata" in engines and "eng.traineddata" in engines
        stats = pooled.stats()
        assert stats["pid"] in pool.pids() and stats["pid"] != os.getpid()
        assert stats["frames"] == len(frames) and stats["worker_cpu_s"] > 0 and stats["restarts"] == 0
    finally:
        pooled.close()


def test_a_frame_that_arrives_while_one_is_analysed_replaces_the_pending_one(
    pool: AnalysisPool, frames: list[Frame]
) -> None:
    pooled = pool.open("session-b", None, dt.date(2026, 11, 26))
    sampler: NewestFrameSampler[Frame] = NewestFrameSampler(pooled.observe, analysed_fps=5.0, name="pool")
    try:
        # 40 due frames (one per 0.2 s of frame time) offered at once: far faster than they are analysed.
        for i in range(40):
            frame = frames[i % len(frames)]
            sampler.offer(Frame(frame.image, i, i * 0.2), i * 0.2)
        deadline = time.monotonic() + 60
        while sampler.stats().analysed + sampler.stats().dropped < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = sampler.stats()
    finally:
        sampler.close()
        pooled.close()
    assert stats.due == 40 and stats.errors == 0
    assert stats.dropped > 0 and stats.analysed + stats.dropped == 40
    assert pooled.frames == stats.analysed  # every frame taken was analysed in the pool, none queued there


def test_a_killed_pool_process_is_replaced_and_the_session_restarts_its_analysis(
    pool: AnalysisPool, frames: list[Frame], caplog: pytest.LogCaptureFixture
) -> None:
    session_id = "session-killed-0123456789"
    pooled: PooledAnalyzer = pool.open(session_id, _claim(), dt.date(2026, 11, 26))
    other = pool.open("session-other", _claim(), dt.date(2026, 11, 26))
    replaced_before = pool.replaced
    try:
        for frame in frames[:3]:
            pooled.observe(frame)
        old_pid = pooled.stats()["pid"]
        with caplog.at_level(logging.INFO):
            os.kill(old_pid, signal.SIGKILL)
            # The frame in flight (or the next one) fails with a clear error, not a hang or a server crash.
            with pytest.raises(AnalysisProcessDied):
                for frame in frames[3:]:
                    pooled.observe(frame)
                    time.sleep(0.2)
            for frame in frames:
                pooled.observe(frame)
            other.observe(frames[0])
        stats = pooled.stats()
        assert stats["restarts"] == 1 and stats["state_lost"] is True
        assert stats["pid"] != old_pid and stats["pid"] in pool.pids()
        assert pool.replaced == replaced_before + 1
        # Analysis goes on in the new process: the fresh analyzer counted only the frames it saw.
        assert _verdicts(pooled.report())
        assert pooled.report()["frames"] == len(frames)
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "restarts in a new process" in logged and "exit code -9" in logged
        assert SURNAME not in logged and session_id not in logged  # the id's prefix only, never the person
    finally:
        pooled.close()
        other.close()


def test_closing_a_session_does_not_wait_for_a_hung_pool_process(
    pool: AnalysisPool, frames: list[Frame], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import api.media.pool as pool_module

    monkeypatch.setattr(pool_module, "CLOSE_WAIT_S", 0.5)
    pooled = pool.open("session-hung", None, dt.date(2026, 11, 26))
    pooled.observe(frames[0])
    pid = pooled.stats()["pid"]
    os.kill(pid, signal.SIGSTOP)  # hung, not dead: no EOF tells the server
    try:
        stuck = threading.Thread(target=pooled.observe, args=(frames[1],), daemon=True)
        stuck.start()
        time.sleep(0.2)
        started = time.monotonic()
        pooled.close()  # the end of a call (hub.close before a decision) must not hang with it
        assert time.monotonic() - started < 3.0
    finally:
        os.kill(pid, signal.SIGCONT)
    stuck.join(30)
    assert not stuck.is_alive()


def test_the_default_factory_runs_one_process_per_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from videoident.settings import Settings

    monkeypatch.delenv("VIDEOIDENT_ANALYSIS_PROCESSES", raising=False)  # tests/conftest.py sets 0 for apps

    factory = session_analyzer_factory(Settings(data_dir=tmp_path), mrz=False, face=False)
    try:
        assert factory.pool is not None and factory.pool.size == (os.cpu_count() or 1)
    finally:
        factory.close()
    assert factory.pool.closed
    in_thread = session_analyzer_factory(Settings(data_dir=tmp_path), mrz=False, face=False, processes=0)
    assert in_thread.pool is None


def test_a_pool_outlives_its_factory_while_an_analyzer_uses_it_and_stops_when_unused(frames: list[Frame]) -> None:
    import gc

    factory = session_analyzer_factory(mrz=False, face=False, processes=1)
    analyzer = factory("session-c")  # as a test or a tool does: the factory itself is dropped at once
    pool = factory.pool
    assert pool is not None
    pids = pool.pids()
    del factory, pool
    gc.collect()
    analyzer.observe(frames[0])  # the pool still serves the analyzer that references it
    assert analyzer.report()["frames"] == 1
    del analyzer
    gc.collect()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids and not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_pool_that_cannot_load_its_engines_leaves_the_call_running_with_every_check_inconclusive() -> None:
    from api.media.analysis import UnavailableAnalyzer

    factory = session_analyzer_factory(mrz=False, face=False, processes=1)
    assert factory.pool is not None
    # What a process reports when e.g. dlib's models are missing (set directly: no process is started).
    factory.pool.failure = "an analysis process could not load its engines: FaceEngineUnavailable"
    try:
        analyzer = factory("session-d")
    finally:
        factory.close()
    assert isinstance(analyzer, UnavailableAnalyzer)
    report = analyzer.report()
    assert {"quality", "document", "tilt", "mrz", "face", "liveness"} <= set(report)
    assert {section["verdict"] for section in report.values() if isinstance(section, dict)} == {"inconclusive"}
    assert report["mrz"]["reason"]["code"] == "analysis_unavailable"
