"""The live session's analyzer: composed exactly as ``videoident analyze`` composes it
(:func:`pipelines.analyzer.build_analyzer` with the MRZ and face engines), adapted to
:class:`api.media.session.LiveAnalyzer`. The engines are loaded once per process, on the first session,
and shared by every session's analyzer; the bank's claimed identity is cross-checked against the MRZ."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from api.media.session import LiveAnalyzer
from pipelines.analyzer import SessionAnalyzer, build_analyzer
from pipelines.frame import Frame
from videoident import audit
from videoident.service import IdentService
from videoident.settings import Settings

__all__ = ["SessionAnalyzerAdapter", "session_analyzer_factory", "Engines"]


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
        with self._lock:
            if not self._loaded:
                if self._want_mrz:
                    from models.ocr import TesseractEngine

                    # Without the MRZ model the MRZ check says inconclusive (mrz_model_missing).
                    self.mrz = TesseractEngine(self._settings.resolved_tessdata_dir)
                if self._want_face:
                    from models.face import FaceEngine

                    self.face = FaceEngine()
                self._loaded = True
        return self


def session_analyzer_factory(
    settings: Settings | None = None, service: IdentService | None = None, *, mrz: bool = True, face: bool = True
) -> Callable[[str], LiveAnalyzer]:
    """One analyzer per session, built as ``videoident analyze`` builds it; with ``service``, the session's
    claimed identity is given to the MRZ cross-check (read as an audited view by the system)."""
    engines = Engines(settings or Settings(), mrz, face)

    def build(session_id: str) -> LiveAnalyzer:
        loaded = engines.load()
        claim = service.claimed_identity(session_id, audit.SYSTEM) if service is not None else None
        analyzer = build_analyzer(
            mrz_engine=loaded.mrz,
            face_engine=loaded.face,
            reference_date=dt.datetime.now(dt.UTC).date(),
            claim=claim,
        )
        return SessionAnalyzerAdapter(analyzer)

    return build
