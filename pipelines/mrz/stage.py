"""The live MRZ stage: reads the MRZ from a session's frames and votes until consensus.

:class:`MrzStage` implements :class:`pipelines.frame.Stage`. ``observe`` is cheap unless a frame is worth
OCR: it OCRs the located, rectified document (``context.document``) when the frame is sharp enough and
the last attempt is at least :data:`MIN_INTERVAL_S` ago; without a located document it tries the raw
frame, less often (:data:`RAW_FRAME_INTERVAL_S`). Once consensus is reached it stops reading the MRZ.

With a ``visual_engine`` (a general OCR model) it also reads the printed visual zone a few times
(:data:`VISUAL_READS`) from the side that carries it, and compares it with the MRZ at ``result()``.
"""

from __future__ import annotations

import datetime as dt

from models.ocr import MrzModelMissingError, TesseractEngine
from pipelines.frame import DocumentKind, DocumentSide, FrameContext
from pipelines.identity import ClaimedIdentity
from pipelines.mrz.consensus import MIN_AGREEING_READS, MrzConsensus
from pipelines.mrz.crosscheck import compare_to_claim
from pipelines.mrz.locate import band_from_rectified, sharpness
from pipelines.mrz.read import EXPECTED_LINES, read_band, read_image
from pipelines.mrz.result import NAME, model_missing_result, mrz_result, not_found_result
from pipelines.mrz.visual import compare_to_visual, read_visual_zone
from pipelines.results import CheckResult

__all__ = ["MrzStage", "MIN_INTERVAL_S", "RAW_FRAME_INTERVAL_S", "MIN_BAND_SHARPNESS"]

#: Least time between two OCR attempts on located documents: one attempt is ~0.15-0.3 s of one core
#: (benchmark), so at most ~1 core-share in 3 goes to the MRZ while other checks run.
MIN_INTERVAL_S = 0.5
#: Least time between two attempts on frames where no document was located (a whole-frame search).
RAW_FRAME_INTERVAL_S = 1.5
#: Variance of the Laplacian of the grey MRZ band (rectified, 10 px/mm) below which a frame is too blurred to
#: be worth OCR. Measured on synthetic 720p frames tilted 10 degrees, 6 per blur: sigma 0: 313-1021;
#: 0.6: 104-441; 1.2: 24-112; 1.5: 9-74 (still >= 90 % read exactly, benchmark); 2.0: 6-42; 3.0: 3-16.
#: 8 keeps every band up to sigma 1.5 and drops the hopeless ones (Nov 2026).
MIN_BAND_SHARPNESS = 8.0
#: Visual-zone reads kept (each ~5 OCR calls of ~50 ms); candidates from all of them are compared.
VISUAL_READS = 3
#: After this many attempts without any MRZ-shaped text the stage keeps trying, but less often.
BACKOFF_AFTER_ATTEMPTS = 20


class MrzStage:
    """Reads the MRZ of one session. ``reference_date``: the session date (expiry, century).
    ``claim``: the bank's claimed identity, compared when present."""

    name = NAME

    def __init__(
        self,
        engine: TesseractEngine,
        reference_date: dt.date,
        claim: ClaimedIdentity | None = None,
        visual_engine: TesseractEngine | None = None,
    ) -> None:
        self._engine = engine
        self._visual_engine = visual_engine
        self._visual: dict[str, list[str]] = {}
        self._visual_reads = 0
        self._last_visual_s: float | None = None
        self._claim = claim
        self._consensus = MrzConsensus(reference_date)
        self._last_attempt_s: float | None = None
        self._attempts = 0
        self._skipped_blurred = 0
        self._model_missing: str | None = None
        self._reached = False
        try:
            engine.model_path()
        except MrzModelMissingError as exc:
            self._model_missing = str(exc)

    @property
    def engine_version(self) -> str:
        """For the report's ``engines``: the MRZ model's tesseract version (and the visual zone's)."""
        if self._model_missing is not None:
            return "mrz model missing"
        versions = [self._engine.version]
        if self._visual_engine is not None:
            versions.append(self._visual_engine.version)
        return "; ".join(versions)

    @property
    def done(self) -> bool:
        visual_done = self._visual_engine is None or self._visual_reads >= VISUAL_READS
        return self._model_missing is not None or (self._reached and visual_done)

    def _observe_visual(self, context: FrameContext) -> None:
        document = context.document
        if self._visual_engine is None or document is None or self._visual_reads >= VISUAL_READS:
            return
        if document.kind is DocumentKind.ID1 and document.side is DocumentSide.BACK:
            return  # a card's printed data is on its front
        t_s = context.frame.t_s
        if self._last_visual_s is not None and t_s - self._last_visual_s < MIN_INTERVAL_S:
            return
        if sharpness(document.rectified) < MIN_BAND_SHARPNESS:
            return
        self._last_visual_s = t_s
        reads = read_visual_zone(self._visual_engine, document.rectified, document.kind)
        if reads:
            self._visual_reads += 1
            for field, texts in reads.items():
                self._visual.setdefault(field, []).extend(texts)

    def _due(self, t_s: float, interval_s: float) -> bool:
        if self._attempts > BACKOFF_AFTER_ATTEMPTS and self._consensus.attempts == 0:
            interval_s *= 3
        return self._last_attempt_s is None or t_s - self._last_attempt_s >= interval_s

    def observe(self, context: FrameContext) -> None:
        if self._model_missing is not None:
            return
        self._observe_visual(context)
        if self._reached:
            return
        t_s = context.frame.t_s
        document = context.document
        if document is not None:
            if document.kind is DocumentKind.ID1 and document.side is DocumentSide.FRONT:
                return  # a card's MRZ is on its back
            if not self._due(t_s, MIN_INTERVAL_S):
                return
            band = band_from_rectified(document.rectified, document.kind)
            if sharpness(band.image) < MIN_BAND_SHARPNESS:
                self._skipped_blurred += 1
                return
            self._last_attempt_s, self._attempts = t_s, self._attempts + 1
            read = read_band(self._engine, band, self._consensus.reference_date, EXPECTED_LINES[document.kind])
        else:
            if not self._due(t_s, RAW_FRAME_INTERVAL_S):
                return
            self._last_attempt_s, self._attempts = t_s, self._attempts + 1
            read = read_image(self._engine, context.frame.image, self._consensus.reference_date)
        if read is not None:
            self._consensus.add(read)
            self._reached = self._consensus.state().reached

    def result(self) -> CheckResult:
        if self._model_missing is not None:
            return model_missing_result(self._model_missing)
        state = self._consensus.state()
        if state.document is None:
            return not_found_result(self._attempts)
        extra = compare_to_claim(state.document, self._claim) if self._claim is not None else {}
        visual: dict[str, object] = {"visual_zone": "not_read"}
        if self._visual:
            visual_checks, unread, unconfirmed = compare_to_visual(state.document, self._visual)
            extra |= visual_checks
            visual = {"visual_zone": "read", "visual_unread": unread, "visual_unconfirmed": unconfirmed,
                      "visual_reads": self._visual_reads}
        return mrz_result(
            state.document,
            extra_checks=extra,
            confirmed=state.identical >= MIN_AGREEING_READS,
            repairs=state.repairs,
            reads=state.reads,
            agreeing_reads=state.agreeing,
            attempts=self._attempts,
            skipped_blurred=self._skipped_blurred,
            consensus=state.reached,
            **visual,
        )
