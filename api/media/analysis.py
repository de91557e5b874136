"""The live session's analyzer: composed exactly as ``videoident analyze`` composes it
(:func:`pipelines.analyzer.build_analyzer` with the MRZ and face engines), adapted to
:class:`api.media.session.LiveAnalyzer`; the bank's claimed identity is cross-checked against the MRZ.

By default each session's analyzer runs in a process of the analysis pool (:mod:`api.media.pool`), which
loads the engines once per process at its start; ``processes=0`` keeps the analyzer in the session's
sampler thread with the engines loaded once in the server process."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from api.media.pool import AnalysisFailed, AnalysisPool, AnalysisProcessDied, AnalysisSettings
from api.media.pool_worker import EngineSpec, LoadedEngines, build_session_analyzer, load_engines
from api.media.session import LiveAnalyzer
from pipelines.analyzer import SECTIONS, SessionAnalyzer
from pipelines.frame import Frame
from pipelines.results import Verdict
from videoident import audit
from videoident.service import IdentService
from videoident.settings import Settings

__all__ = ["SessionAnalyzerAdapter", "UnavailableAnalyzer", "session_analyzer_factory", "Engines", "AnalyzerFactory"]

log = logging.getLogger(__name__)


class SessionAnalyzerAdapter:
    """``observe`` runs the frame through the analyzer and keeps its guidance for the customer."""

    def __init__(self, analyzer: SessionAnalyzer) -> None:
        self.analyzer = analyzer
        self._guidance: tuple[str, ...] = ()

    def observe(self, frame: Frame) -> None:
        observation = self.analyzer.process(frame)
        self._guidance = tuple(g.value for g in observation.guidance)

    def report(self) -> Mapping[str, Any]:
        return self.analyzer.report()

    def guidance(self) -> Sequence[str]:
        return self._guidance


class UnavailableAnalyzer:
    """The session's analyzer when the analysis pool cannot serve it (its processes could not load their
    engines, or did not start in time): the call itself goes on (video, recording, the agent's view), and
    every check says inconclusive ``analysis_unavailable``, so nothing reads as passed."""

    def __init__(self, reason: str) -> None:
        self._section = {
            "verdict": Verdict.INCONCLUSIVE.value,
            "score": None,
            "reason": {"code": "analysis_unavailable", "text": reason},
        }

    def observe(self, frame: Frame) -> None:
        return None

    def report(self) -> Mapping[str, Any]:
        # "injection" is the transport's own check (api.media.injection): the live session adds it.
        report: dict[str, Any] = {name: dict(self._section) for name in SECTIONS if name != "injection"}
        report["frames"] = 0
        return report

    def guidance(self) -> Sequence[str]:
        return ()

    def stats(self) -> dict[str, Any]:
        return {"mode": "unavailable", "reason": self._section["reason"]}


class Engines:
    """The MRZ (tesseract) and face (dlib) engines of the in-thread mode, loaded once, on first use, shared
    by all sessions of this process."""

    def __init__(self, settings: Settings, mrz: bool = True, face: bool = True) -> None:
        self.spec = EngineSpec(settings.resolved_tessdata_dir if mrz else None, mrz, face)
        self._lock = threading.Lock()
        self._loaded: LoadedEngines | None = None

    @property
    def mrz(self) -> Any:
        return self._loaded.mrz if self._loaded is not None else None

    @property
    def face(self) -> Any:
        return self._loaded.face if self._loaded is not None else None

    def load(self) -> LoadedEngines:
        """Load (and warm up) the engines once. dlib holds the GIL while it reads its models, stalling the
        event loop for seconds (measured: a 4.7 s loop-lag p99 when the first session loaded them), so the
        app loads them at start-up through :meth:`AnalyzerFactory.warmup`, before it serves anyone."""
        with self._lock:
            if self._loaded is None:
                # Without the MRZ model the MRZ check says inconclusive (mrz_model_missing).
                self._loaded = load_engines(self.spec)
            return self._loaded


class AnalyzerFactory:
    """``factory(session_id)`` -> a fresh analyzer for that session; ``warmup()`` loads the engines (starts
    the pool processes); ``close()`` stops the pool.

    With ``processes`` >= 1 (the default: one per core, ``VIDEOIDENT_ANALYSIS_PROCESSES``) each session's
    analyzer lives in one process of an :class:`api.media.pool.AnalysisPool`, off the event loop's GIL;
    with ``processes=0`` it runs in the session's sampler thread (development and tests)."""

    def __init__(self, engines: Engines, service: IdentService | None, processes: int = 0) -> None:
        self._engines, self._service = engines, service
        self.processes = processes
        # A pool that nobody references any more (this factory and its analyzers gone) stops by itself.
        self.pool: AnalysisPool | None = AnalysisPool(engines.spec, processes) if processes else None

    def warmup(self) -> None:
        """Start loading the engines: the pool's processes start now and load them in the background (the
        server's GIL is not involved, so the app can serve meanwhile); in-thread, they load here (blocking:
        call it from a thread at start-up)."""
        if self.pool is not None:
            self.pool.start(wait=False)
        else:
            self._engines.load()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def __call__(self, session_id: str) -> LiveAnalyzer:
        claim = self._service.claimed_identity(session_id, audit.SYSTEM) if self._service is not None else None
        reference_date = dt.datetime.now(dt.UTC).date()
        if self.pool is not None:
            try:
                return self.pool.open(session_id, claim, reference_date)
            except (AnalysisFailed, AnalysisProcessDied, FutureTimeout) as exc:
                log.error("live session %s runs without analysis: %s", session_id[:8], type(exc).__name__)
                return UnavailableAnalyzer(f"the analysis service is unavailable ({type(exc).__name__})")
        return SessionAnalyzerAdapter(build_session_analyzer(self._engines.load(), claim, reference_date))


def session_analyzer_factory(
    settings: Settings | None = None,
    service: IdentService | None = None,
    *,
    mrz: bool = True,
    face: bool = True,
    processes: int | None = None,
) -> AnalyzerFactory:
    """One analyzer per session, built as ``videoident analyze`` builds it; with ``service``, the session's
    claimed identity is given to the MRZ cross-check (read as an audited view by the system).
    ``processes``: the analysis pool's size (None: ``VIDEOIDENT_ANALYSIS_PROCESSES``, default one per
    core; 0: in the sampler's thread)."""
    if processes is None:
        processes = AnalysisSettings().resolved_processes()
    return AnalyzerFactory(Engines(settings or Settings(), mrz, face), service, processes)
