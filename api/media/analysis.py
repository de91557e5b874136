"""The live session's analyzer: composed exactly as ``videoident analyze`` composes it
(:func:`pipelines.analyzer.build_analyzer` with the MRZ and face engines), adapted to
:class:`api.media.session.LiveAnalyzer`. The engines are loaded once per process, on the first session,
and shared by every session's analyzer; the bank's claimed identity is cross-checked against the MRZ."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from api.media.session import LiveAnalyzer
from pipelines.analyzer import SessionAnalyzer, build_analyzer
from pipelines.frame import Frame
from videoident import audit
from videoident.service import IdentService
from videoident.settings import Settings

__all__ = ["SessionAnalyzerAdapter", "session_analyzer_factory", "Engines", "AnalyzerFactory"]


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


class Engines:
    """The MRZ (tesseract) and face (dlib) engines, loaded once, on first use, shared by all sessions."""

    def __init__(self, settings: Settings, mrz: bool = True, face: bool = True) -> None:
        self._settings, self._want_mrz, self._want_face = settings, mrz, face
        self._lock = threading.Lock()
        self._loaded = False
        self.mrz: Any = None
        self.face: Any = None

    def load(self) -> Engines:
        """Load (and warm up) the engines once. dlib holds the GIL while it reads its models, stalling the
        event loop for seconds (measured: a 4.7 s loop-lag p99 when the first session loaded them), so the
        app loads them at start-up through :meth:`AnalyzerFactory.warmup`, before it serves anyone."""
        with self._lock:
            if not self._loaded:
                if self._want_mrz:
                    from models.ocr import TesseractEngine

                    # Without the MRZ model the MRZ check says inconclusive (mrz_model_missing).
                    self.mrz = TesseractEngine(self._settings.resolved_tessdata_dir)
                    self.mrz.warmup()
                if self._want_face:
                    from models.face import FaceEngine

                    self.face = FaceEngine()
                    self.face.warmup()
                self._loaded = True
        return self


class AnalyzerFactory:
    """``factory(session_id)`` -> a fresh analyzer for that session; ``warmup()`` loads the engines."""

    def __init__(self, engines: Engines, service: IdentService | None) -> None:
        self._engines, self._service = engines, service

    def warmup(self) -> None:
        self._engines.load()

    def __call__(self, session_id: str) -> LiveAnalyzer:
        loaded = self._engines.load()
        claim = self._service.claimed_identity(session_id, audit.SYSTEM) if self._service is not None else None
        analyzer = build_analyzer(
            mrz_engine=loaded.mrz,
            face_engine=loaded.face,
            reference_date=dt.datetime.now(dt.UTC).date(),
            claim=claim,
        )
        return SessionAnalyzerAdapter(analyzer)


def session_analyzer_factory(
    settings: Settings | None = None, service: IdentService | None = None, *, mrz: bool = True, face: bool = True
) -> AnalyzerFactory:
    """One analyzer per session, built as ``videoident analyze`` builds it; with ``service``, the session's
    claimed identity is given to the MRZ cross-check (read as an audited view by the system)."""
    return AnalyzerFactory(Engines(settings or Settings(), mrz, face), service)
