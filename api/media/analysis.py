"""The live session's analyzer: the same :class:`pipelines.analyzer.SessionAnalyzer` that
``videoident analyze`` runs over a recorded file, adapted to :class:`api.media.session.LiveAnalyzer`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from api.media.session import LiveAnalyzer
from pipelines.analyzer import SessionAnalyzer
from pipelines.frame import Frame

__all__ = ["SessionAnalyzerAdapter", "session_analyzer_factory"]


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


def session_analyzer_factory() -> Callable[[str], LiveAnalyzer]:
    """One analyzer per session, built as ``videoident analyze`` builds it."""

    def build(_session_id: str) -> LiveAnalyzer:
        return SessionAnalyzerAdapter(SessionAnalyzer())

    return build
