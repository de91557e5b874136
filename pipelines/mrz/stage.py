"""The live MRZ stage: reads the MRZ from a session's frames and votes until consensus.

:class:`MrzStage` implements :class:`pipelines.frame.Stage`. ``observe`` is cheap unless a frame is worth
OCR: it OCRs the located, rectified document (``context.document``) when the frame is sharp enough and
the last attempt is at least :data:`MIN_INTERVAL_S` ago; without a located document it tries the raw
frame, less often (:data:`RAW_FRAME_INTERVAL_S`). Once consensus is reached it stops reading.
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
from pipelines.results import CheckResult

__all__ = ["MrzStage", "MIN_INTERVAL_S", "RAW_FRAME_INTERVAL_S", "MIN_BAND_SHARPNESS"]

#: Least time between two OCR attempts on located documents: one attempt is ~0.15-0.3 s of one core
#: (benchmark), so at most ~1 core-share in 3 goes to the MRZ while other checks run.
MIN_INTERVAL_S = 0.5
#: Least time between two attempts on frames where no document was located (a whole-frame search).
RAW_FRAME_INTERVAL_S = 1.5
#: Variance of the Laplacian of the grey MRZ band below which a frame is too blurred to be worth OCR.
#: Synthetic bands at 10 px/mm: ~900 sharp, ~250 at blur sigma 1.5 (still read), ~60 at sigma 3
#: (unreadable); 80 keeps every readable band (api/benchmarks/mrz.py, Nov 2026).
MIN_BAND_SHARPNESS = 80.0
#: After this many attempts without any MRZ-shaped text the stage keeps trying, but less often.
BACKOFF_AFTER_ATTEMPTS = 20


class MrzStage:
    """Reads the MRZ of one session. ``reference_date``: the session date (expiry, century).
    ``claim``: the bank's claimed identity, compared when present."""

    name = NAME

    def __init__(self, engine: TesseractEngine, reference_date: dt.date, claim: ClaimedIdentity | None = None) -> None:
        self._engine = engine
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
    def done(self) -> bool:
        return self._model_missing is not None or self._reached

    def _due(self, t_s: float, interval_s: float) -> bool:
        if self._attempts > BACKOFF_AFTER_ATTEMPTS and self._consensus.attempts == 0:
            interval_s *= 3
        return self._last_attempt_s is None or t_s - self._last_attempt_s >= interval_s

    def observe(self, context: FrameContext) -> None:
        if self._model_missing is not None or self._reached:
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
        return mrz_result(
            state.document,
            extra_checks=extra,
            confirmed=state.identical >= MIN_AGREEING_READS,
            reads=state.reads,
            agreeing_reads=state.agreeing,
            attempts=self._attempts,
            skipped_blurred=self._skipped_blurred,
            consensus=state.reached,
        )
