"""The session analyzer: every frame of a session through every check, and the session report.

Per frame (:meth:`SessionAnalyzer.process`): broken-decode test; document location (tracking the previous
frame's corners); quality; then every stage's ``observe``; the best stills of front and back are kept;
the customer's next instruction (:class:`pipelines.quality.Guidance`) is derived. At any time
(:meth:`SessionAnalyzer.report`): one JSON-ready dict with a section per check — ``quality``,
``document``, ``tilt``, ``hologram``, ``mrz``, ``face``, ``liveness``, ``injection`` — each with
``verdict``/``score``/``reason`` and its own measurements, a top-level ``verdict`` (any fail fails, else
any inconclusive is inconclusive), and ``engines`` (the versions of everything that ran). A section whose
stage is not composed says inconclusive ``not_implemented``.

Threading: an analyzer belongs to one session. Its methods take an internal lock, so a worker thread may
call :meth:`process` while another thread reads :meth:`report`; there is no module-level state.
Broken frames are counted by quality but not shown to the stages (their content is garbage).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.document import DocumentLocator
from pipelines.document_track import TRACK_FRAMES, VERIFY_EVERY, DocumentTracker
from pipelines.frame import DocumentKind, DocumentSide, DocumentView, Frame, FrameContext, Stage
from pipelines.hologram import HologramStage
from pipelines.quality import FrameQuality, Guidance, QualityStage, assess_frame
from pipelines.results import CheckResult, Reason, Verdict, combine_verdicts
from pipelines.tilt import DEFAULT_REQUIRED_TILT_DEG, TiltDirection, TiltStage

if TYPE_CHECKING:  # the engines are the caller's; importing them here would load nothing, but keeps types
    from models.face import FaceEngine
    from models.ocr import TesseractEngine
    from pipelines.identity import ClaimedIdentity
    from pipelines.liveness.active import Challenge

__all__ = [
    "TRACK_FRAMES",  # re-exported: how the document is tracked between frames (pipelines.document_track)
    "VERIFY_EVERY",
    "SECTIONS",
    "Still",
    "FrameObservation",
    "SessionAnalyzer",
    "FaceDetector",
    "build_analyzer",
]

#: The report's check sections, in the order they are printed.
SECTIONS = ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection")
#: A face detector for the "show your face" guidance: a frame (and its document) -> whether a face is
#: visible. Called after the stages, so a face tracker shared with the face stage reuses its detection.
FaceDetector = Callable[[FrameContext], bool]
#: Run the face detector on every n-th frame only (a HOG detector costs 30-60 ms on a 720p frame; the
#: answer changes slowly).
FACE_CHECK_EVERY = 10
#: After this many frames with a document, the majority kind (ID-1 or TD3) is passed to the locator.
KIND_SETTLED_FRAMES = 5
#: Document section: the document must be found in at least this many frames to pass...
MIN_DOCUMENT_FRAMES = 5
#: ...and a still of each side it has is kept only from frames tilted less than this (a flat, zoomed view).
STILL_MAX_TILT_DEG = 12.0

_TILT_GUIDANCE = {
    TiltDirection.LEFT: Guidance.TILT_LEFT,
    TiltDirection.RIGHT: Guidance.TILT_RIGHT,
    TiltDirection.TOWARDS: Guidance.TILT_TOWARDS_YOU,
    TiltDirection.AWAY: Guidance.TILT_AWAY,
}
_REQUIRED_SIDES = {
    DocumentKind.ID1: (DocumentSide.FRONT, DocumentSide.BACK),
    DocumentKind.TD3: (DocumentSide.FRONT,),
}


@dataclass(frozen=True)
class Still:
    """The best rectified view of one side: BGR uint8, kept in memory only (it is unmasked)."""

    image: np.ndarray
    side: DocumentSide
    kind: DocumentKind
    frame_index: int
    t_s: float
    sharpness: float
    score: float

    def to_json(self) -> dict[str, Any]:
        """Metadata only: never the image."""
        return {
            "frame_index": self.frame_index,
            "t_s": round(self.t_s, 3),
            "sharpness": round(self.sharpness, 1),
            "size_px": [int(self.image.shape[1]), int(self.image.shape[0])],
        }


@dataclass(frozen=True)
class FrameObservation:
    """What one frame gave: the document (if found), its quality, and the customer's next instruction."""

    frame_index: int
    t_s: float
    document: DocumentView | None
    quality: FrameQuality
    guidance: tuple[Guidance, ...]

    def to_json(self) -> dict[str, Any]:
        doc = self.document
        return {
            "frame_index": self.frame_index,
            "t_s": round(self.t_s, 3),
            "document": None
            if doc is None
            else {
                "kind": doc.kind.value,
                "side": doc.side.value,
                "corners_px": np.round(doc.corners_px, 1).tolist(),
                "yaw_deg": None if doc.yaw_deg is None else round(doc.yaw_deg, 1),
                "pitch_deg": None if doc.pitch_deg is None else round(doc.pitch_deg, 1),
                "confidence": round(doc.confidence, 3),
            },
            "guidance": [g.value for g in self.guidance],
        }


class SessionAnalyzer:
    """Runs one session's frames through document location, quality, tilt, hologram and ``stages``.

    ``stages``: further checks (MRZ, face, liveness, injection), each a :class:`pipelines.frame.Stage`
    whose ``name`` is its report section. ``face_detector``: optional, for the "show your face" guidance.
    ``engines``: extra model versions to record (e.g. the tesseract and dlib versions).
    """

    def __init__(
        self,
        stages: Sequence[Stage] = (),
        *,
        locator: DocumentLocator | None = None,
        face_detector: FaceDetector | None = None,
        required_tilt_deg: float = DEFAULT_REQUIRED_TILT_DEG,
        engines: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._tracker = DocumentTracker(locator)
        self._face_detector = face_detector
        self._quality = QualityStage()
        self._tilt = TiltStage(required_tilt_deg)
        self._hologram = HologramStage()
        self._stages: list[Stage] = [self._tilt, self._hologram, *stages]
        names = [s.name for s in self._stages]
        if len(set(names)) != len(names):
            raise ValueError(f"two stages share a section name: {names}")
        self._engines = dict(engines or {})
        self._frames = 0
        self._last_t_s = 0.0
        self._face_visible: bool | None = None
        self._doc_frames = 0
        self._kinds: Counter[DocumentKind] = Counter()
        self._sides: Counter[DocumentSide] = Counter()
        self._confidences: list[float] = []
        self._stills: dict[DocumentSide, Still] = {}

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages every frame goes through (tilt, hologram, then those given), read-only."""
        return tuple(self._stages)

    # --- per frame ----------------------------------------------------------------------------------
    def process(self, frame: Frame) -> FrameObservation:
        """Analyse one frame (BGR uint8). Never raises on a corrupted image."""
        with self._lock:
            return self._process(frame)

    def _process(self, frame: Frame) -> FrameObservation:
        self._frames += 1
        self._last_t_s = max(self._last_t_s, frame.t_s)
        image = frame.image
        probe = assess_frame(image, None, None)
        if probe.broken:
            self._quality.add(probe)
            return FrameObservation(frame.index, frame.t_s, None, probe, probe.issues)
        kind = self._kind() if self._doc_frames >= KIND_SETTLED_FRAMES else None
        document = self._tracker.locate(image, kind=kind)
        if document is not None:
            self._doc_frames += 1
            self._kinds[document.kind] += 1
            self._sides[document.side] += 1
            self._confidences.append(document.confidence)
        quality = assess_frame(image, document, self._face_visible, probe)
        self._quality.add(quality)
        context = FrameContext(frame, document)
        for stage in self._stages:
            stage.observe(context)
        # Counted in frames analysed, not by the camera's frame index: a live session samples the camera
        # (every 6th frame of 30 fps, say), and index % 10 could then never be 0.
        if self._face_detector is not None and (self._frames - 1) % FACE_CHECK_EVERY == 0:
            self._face_visible = bool(self._face_detector(context))  # used from the next frame on
        if document is not None and quality.document_usable:
            self._keep_still(frame, document, quality)
        return FrameObservation(frame.index, frame.t_s, document, quality, self._guidance(quality))

    def _keep_still(self, frame: Frame, document: DocumentView, quality: FrameQuality) -> None:
        if document.side is DocumentSide.UNKNOWN or quality.document_sharpness is None:
            return
        tilt = max(abs(document.yaw_deg or 0.0), abs(document.pitch_deg or 0.0))
        if tilt > STILL_MAX_TILT_DEG:
            return
        score = quality.document_sharpness * document.confidence * (1.0 - tilt / 90.0)
        current = self._stills.get(document.side)
        if current is None or score > current.score:
            self._stills[document.side] = Still(
                document.rectified.copy(),
                document.side,
                document.kind,
                frame.index,
                frame.t_s,
                quality.document_sharpness,
                score,
            )

    def _guidance(self, quality: FrameQuality) -> tuple[Guidance, ...]:
        if quality.issues:
            return quality.issues
        kind = self._kind()
        missing = self._tilt.missing()
        if missing:
            return (_TILT_GUIDANCE[missing[0]],)
        if kind is not None:
            for side in _REQUIRED_SIDES[kind]:
                if self._sides[side] == 0:
                    return (Guidance.SHOW_FRONT if side is DocumentSide.FRONT else Guidance.SHOW_BACK,)
        return ()

    # --- session ------------------------------------------------------------------------------------
    def _kind(self) -> DocumentKind | None:
        return self._kinds.most_common(1)[0][0] if self._kinds else None

    def stills(self) -> dict[DocumentSide, Still]:
        """The best flat, sharp rectified view of each side seen so far (unmasked: keep in memory)."""
        with self._lock:
            return dict(self._stills)

    def _document_result(self) -> CheckResult:
        kind = self._kind()
        measurements: dict[str, Any] = {
            "frames_with_document": self._doc_frames,
            "frames": self._frames,
            "kind": None if kind is None else kind.value,
            "sides_seen": {s.value: n for s, n in sorted(self._sides.items()) if s is not DocumentSide.UNKNOWN},
            "median_confidence": round(float(np.median(self._confidences)), 3) if self._confidences else None,
            "stills": {side.value: still.to_json() for side, still in self._stills.items()},
        }
        if self._doc_frames < MIN_DOCUMENT_FRAMES:
            if self._frames >= 3 * MIN_DOCUMENT_FRAMES:
                reason = Reason("no_document", f"a document was found in {self._doc_frames} of {self._frames} frames")
                return CheckResult("document", Verdict.FAIL, reason, 0.0, measurements)
            return CheckResult.inconclusive(
                "document", "too_few_frames", f"a document was found in {self._doc_frames} frames", **measurements
            )
        assert kind is not None
        missing = [s.value for s in _REQUIRED_SIDES[kind] if self._sides[s] == 0]
        score = round(float(np.median(self._confidences)), 3)
        if missing:
            return CheckResult(
                "document",
                Verdict.INCONCLUSIVE,
                Reason("side_not_shown", f"not shown: {', '.join(missing)}"),
                score,
                {**measurements, "missing_sides": missing},
            )
        missing_stills = [s.value for s in _REQUIRED_SIDES[kind] if s not in self._stills]
        if missing_stills:
            return CheckResult(
                "document",
                Verdict.INCONCLUSIVE,
                Reason("no_sharp_still", f"no sharp, flat view of: {', '.join(missing_stills)}"),
                score,
                measurements,
            )
        reason = Reason("document_found", f"{kind.value} document found; every side shown sharply")
        return CheckResult("document", Verdict.PASS, reason, score, measurements)

    def results(self) -> dict[str, CheckResult]:
        """Every section's current result, in :data:`SECTIONS` order (then any extra stage)."""
        with self._lock:
            by_name: dict[str, CheckResult] = {"quality": self._quality.result(), "document": self._document_result()}
            for stage in self._stages:
                by_name[stage.name] = stage.result()
        ordered = {
            name: by_name.get(name)
            or CheckResult.inconclusive(name, "not_implemented", f"the {name} check is not part of this build")
            for name in SECTIONS
        }
        ordered.update({name: result for name, result in by_name.items() if name not in ordered})
        return ordered

    def engines(self) -> dict[str, str]:
        engines = {
            "document": "contour-quad+edge-refine-1",
            "quality": self._quality.version,
        }
        for stage in self._stages:
            for attr in ("version", "engine_version"):
                value = getattr(stage, attr, None)
                if isinstance(value, str):
                    engines[stage.name] = value
                    break
        engines.update(self._engines)
        return engines

    def report(self) -> dict[str, Any]:
        """The session report: a JSON-ready dict (see the module docstring)."""
        results = self.results()
        with self._lock:
            frames, duration = self._frames, self._last_t_s
        verdict = combine_verdicts([r.verdict for r in results.values()])
        return {
            "verdict": verdict.value,
            "frames": frames,
            "duration_s": round(duration, 3),
            **{name: result.to_json() for name, result in results.items()},
            "engines": self.engines(),
        }


def build_analyzer(
    *,
    mrz_engine: TesseractEngine | None = None,
    visual_engine: TesseractEngine | None = None,
    face_engine: FaceEngine | None = None,
    reference_date: dt.date | None = None,
    claim: ClaimedIdentity | None = None,
    challenges: Sequence[Challenge] = (),
    required_tilt_deg: float = DEFAULT_REQUIRED_TILT_DEG,
) -> SessionAnalyzer:
    """The analyzer with every check this build has, for the engines given (each loaded once by the
    caller and shared across sessions): the MRZ stage with ``mrz_engine``; the face and liveness stages,
    sharing one face tracker, with ``face_engine`` (which also drives the "show your face" guidance).
    ``reference_date``: the session's date, for the MRZ's expiry and century (the caller's clock)."""
    stages: list[Stage] = []
    face_detector: FaceDetector | None = None
    if mrz_engine is not None:
        if reference_date is None:
            raise ValueError("the MRZ stage needs the session's reference_date")
        from pipelines.mrz.stage import MrzStage

        stages.append(MrzStage(mrz_engine, reference_date, claim, visual_engine))
    if face_engine is not None:
        from pipelines.face.live import FaceTracker
        from pipelines.face.stage import FaceStage
        from pipelines.liveness.stage import LivenessStage

        tracker = FaceTracker(face_engine)
        stages += [FaceStage(face_engine, tracker), LivenessStage(tracker, challenges)]

        def face_visible(context: FrameContext) -> bool:
            return bool(tracker.faces(context).faces)

        face_detector = face_visible
    return SessionAnalyzer(stages, face_detector=face_detector, required_tilt_deg=required_tilt_deg)
