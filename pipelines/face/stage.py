"""``FaceStage``: the ID portrait against the live face over a session's frames (``pipelines.frame.Stage``).

Per frame it does cheap work only: every :data:`PORTRAIT_INTERVAL_S` it looks for the portrait on a
front-side document held flat, keeping the candidate with the most camera pixels; every
:data:`LIVE_INTERVAL_S` it detects the live face (outside the document) and rates the frame. Encodings
(~0.1-0.2 s each) happen in :meth:`FaceStage.result`, for the best :data:`LIVE_ENCODINGS` live frames and
the best portrait, cached, and never more than :data:`MAX_ENCODINGS` per session.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.face import FaceEngine
from pipelines.face import match
from pipelines.face.live import FaceTracker, FrameQuality, rate_face
from pipelines.face.portrait import (
    MIN_PORTRAIT_SOURCE_FACE_PX,
    PORTRAIT_CHANGE_SIMILARITY,
    PortraitCandidate,
    find_portrait,
    portrait_signature,
    signature_similarity,
)
from pipelines.frame import FrameContext
from pipelines.results import CheckResult, Verdict

__all__ = [
    "FaceStage",
    "LIVE_INTERVAL_S",
    "PORTRAIT_INTERVAL_S",
    "LIVE_ENCODINGS",
    "PORTRAIT_ENCODINGS",
    "MAX_ENCODINGS",
    "SEVERAL_FACES_SHARE",
]

#: Seconds between live-face detections in this stage (~0.04 s each at 640 px): 5 a second is plenty to
#: catch a still, frontal moment; the liveness stage asks the shared tracker more often when it needs to.
LIVE_INTERVAL_S = 0.2
#: Seconds between portrait searches on the document (a crop of the rectified card, ~0.02-0.05 s).
PORTRAIT_INTERVAL_S = 0.25
#: Once the stage has what it needs (a portrait of :data:`GOOD_PORTRAIT_FACE_PX` camera pixels; enough
#: live candidates of quality :data:`GOOD_LIVE_QUALITY`) it looks only this often, to keep a long session
#: within the per-session budget while still noticing a second person or a card swap.
SATISFIED_INTERVAL_S = 2.0
#: A portrait this wide in camera pixels is as good as the 64 px the threshold was calibrated on, plus margin.
GOOD_PORTRAIT_FACE_PX = 80.0
#: Live quality (0..1, see ``rate_face``) that counts as a good frame.
GOOD_LIVE_QUALITY = 0.7
#: Live frames encoded for the comparison; the decision uses the median distance (robust to one bad
#: frame) and they come from frames at least :data:`LIVE_MIN_GAP_S` apart (different moments). This is
#: also the hard cap on live encodings per session: however often the result is polled, a live frame
#: once encoded stays in the decision (encodings are never thrown away and redone).
LIVE_ENCODINGS = 3
LIVE_MIN_GAP_S = 0.5
#: Portrait encodings per session: the first view, and once more if the card comes much closer (a view
#: with :data:`PORTRAIT_IMPROVEMENT` more camera pixels while the kept one was below
#: :data:`GOOD_PORTRAIT_FACE_PX`).
PORTRAIT_ENCODINGS = 2
#: Hard cap on encodings per session: 5 x 0.1-0.15 s (one encoding, ../shared/notes/faces.md) = 0.5-0.75 s
#: of the issue's 1.5 s per-session face budget; detection and landmarks take the rest.
MAX_ENCODINGS = LIVE_ENCODINGS + PORTRAIT_ENCODINGS
#: Live candidates are encoded lazily: the first as soon as the result is asked (a quick score), the
#: others only once a candidate of :data:`GOOD_LIVE_QUALITY` exists or :data:`LIVE_SETTLE_S` seconds of
#: live frames were rated (the best of a weak session is then all there is).
LIVE_SETTLE_S = 2.0
#: Live candidates kept in memory (face crops only, never written anywhere).
KEEP_CANDIDATES = 12
#: A portrait must have this many more camera pixels than the kept one to replace it (avoids re-encoding
#: for noise).
PORTRAIT_IMPROVEMENT = 1.15
#: If more than this share of the frames with a face show several people, the check cannot pass.
SEVERAL_FACES_SHARE = 0.3
#: A different ID photo (signature below ``PORTRAIT_CHANGE_SIMILARITY``) on this many consecutive portrait
#: searches is a card shown later: one view spoiled by glare or a thumb is not a new card.
PORTRAIT_CHANGE_CONFIRM = 2


@dataclass
class _Live:
    frame_index: int
    t_s: float
    crop: np.ndarray
    box_in_crop: tuple[int, int, int, int]
    quality: FrameQuality
    encoding: np.ndarray | None = None

    @property
    def turned(self) -> bool:
        """A pose-fallback candidate (turned beyond the frontal limit, see ``FrameQuality.turned``)."""
        return self.quality.turned

    @property
    def rank(self) -> tuple[bool, float]:
        """Frontal candidates before turned ones, then by quality (the fallback score rates turned ones)."""
        return (not self.turned, self.quality.fallback_score)


@dataclass
class _Card:
    """One ID photo seen in the session (a card shown later with another photo is another ``_Card``):
    its best view so far, that view's signature, and the view encoded for it (if any)."""

    best: PortraitCandidate
    signature: np.ndarray
    encoded: PortraitCandidate | None = None
    encoding: np.ndarray | None = None


@dataclass
class _Counters:
    frames: int = 0
    live_checked: int = 0
    with_face: int = 0
    several: int = 0
    portrait_checked: int = 0
    encodings: int = 0
    portrait_encodings: int = 0
    live_encodings: int = 0
    problems: dict[str, int] = field(default_factory=dict)


class FaceStage:
    """Compares the document portrait with the customer's live face. ``tracker`` may be shared with the
    liveness stage so each frame is detected once."""

    name = "face"

    def __init__(self, engine: FaceEngine, tracker: FaceTracker | None = None) -> None:
        self.engine = engine
        self.tracker = tracker if tracker is not None else FaceTracker(engine)
        self._cards: list[_Card] = []
        self._change_streak = 0
        self._live: list[_Live] = []
        self._last_live_t = -1e9
        self._last_portrait_t = -1e9
        self.counters = _Counters()

    @property
    def _portrait(self) -> PortraitCandidate | None:
        """The best view of the card shown last."""
        return self._cards[-1].best if self._cards else None

    # -- per frame -------------------------------------------------------------------------------------
    def observe(self, context: FrameContext) -> None:
        frame = context.frame
        self.counters.frames += 1
        portrait_interval = PORTRAIT_INTERVAL_S
        if self._portrait is not None and self._portrait.source_face_px >= GOOD_PORTRAIT_FACE_PX:
            portrait_interval = SATISFIED_INTERVAL_S
        if self._change_streak:  # another photo was just seen: confirm (or dismiss) it at once
            portrait_interval = PORTRAIT_INTERVAL_S
        live_interval = LIVE_INTERVAL_S
        if self.counters.live_encodings >= LIVE_ENCODINGS or (
            sum(c.quality.score >= GOOD_LIVE_QUALITY for c in self._chosen_live()) >= LIVE_ENCODINGS
        ):
            live_interval = SATISFIED_INTERVAL_S
        if context.document is not None and frame.t_s - self._last_portrait_t >= portrait_interval:
            self._last_portrait_t = frame.t_s
            self.counters.portrait_checked += 1
            candidate = find_portrait(self.engine, context.document, frame.index)
            if candidate is not None:
                self._observe_portrait(candidate)
        if frame.t_s - self._last_live_t >= live_interval:
            self._last_live_t = frame.t_s
            self._observe_live(context)

    def _observe_portrait(self, candidate: PortraitCandidate) -> None:
        """Keep the card's best view; a different photo on :data:`PORTRAIT_CHANGE_CONFIRM` consecutive
        searches starts a new card (compared too, or reported when the budget is spent)."""
        signature = portrait_signature(candidate)
        if not self._cards:
            self._cards.append(_Card(candidate, signature))
            return
        card = self._cards[-1]
        if signature_similarity(signature, card.signature) < PORTRAIT_CHANGE_SIMILARITY:
            self._change_streak += 1
            if self._change_streak >= PORTRAIT_CHANGE_CONFIRM:
                self._change_streak = 0
                self._cards.append(_Card(candidate, signature))
            return
        self._change_streak = 0
        if candidate.source_face_px > card.best.source_face_px * PORTRAIT_IMPROVEMENT:
            card.best, card.signature = candidate, signature

    def _observe_live(self, context: FrameContext) -> None:
        live = self.tracker.faces(context)
        self.counters.live_checked += 1
        if not live.faces:
            return
        self.counters.with_face += 1
        if live.several:
            self.counters.several += 1
            return
        face = live.faces[0]
        quality = rate_face(context.frame.image, face)
        for problem in quality.problems:
            self.counters.problems[problem] = self.counters.problems.get(problem, 0) + 1
        if not quality.usable and not quality.turned:
            return
        image = context.frame.image
        b = face.box
        margin = b.width // 2
        top, left = max(0, b.top - margin), max(0, b.left - margin)
        crop = np.ascontiguousarray(image[top : min(image.shape[0], b.bottom + margin), left : b.right + margin])
        box = (b.top - top, b.right - left, b.bottom - top, b.left - left)
        self._live.append(_Live(context.frame.index, context.frame.t_s, crop, box, quality))
        if len(self._live) > KEEP_CANDIDATES:
            # Drop the worst candidate that has no encoding yet (encoded ones are paid for).
            unencoded = [c for c in self._live if c.encoding is None]
            if unencoded:
                self._live.remove(min(unencoded, key=lambda c: c.rank))

    # -- decision --------------------------------------------------------------------------------------
    def _encode(self, crop: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        from models.face import FaceBox

        self.counters.encodings += 1
        return self.engine.encode(crop, FaceBox(*box))

    def _encode_portrait(self) -> None:
        """Encode each card's best view while the portrait budget allows: first every card not compared yet
        (in the order shown), then a second view of a card only if it is clearly better than a weak first
        one."""
        for card in self._cards:
            if card.encoding is None and self.counters.portrait_encodings < PORTRAIT_ENCODINGS:
                self._encode_card(card)
        for card in self._cards:
            old = card.encoded
            if old is None or old is card.best or self.counters.portrait_encodings >= PORTRAIT_ENCODINGS:
                continue
            weak = old.source_face_px < GOOD_PORTRAIT_FACE_PX
            if weak and card.best.source_face_px >= old.source_face_px * PORTRAIT_IMPROVEMENT:
                self._encode_card(card)

    def _encode_card(self, card: _Card) -> None:
        self.counters.portrait_encodings += 1
        card.encoded = card.best
        card.encoding = self._encode(card.best.crop, card.best.face.box.as_tuple())

    def _encode_live(self) -> None:
        """Encode chosen live candidates, at most :data:`LIVE_ENCODINGS` per session, lazily (see
        :data:`LIVE_SETTLE_S`)."""
        encoded = [c for c in self._live if c.encoding is not None]
        if not self._live:
            return
        first_t = min(c.t_s for c in self._live)
        settled = (
            max(c.t_s for c in self._live) - first_t >= LIVE_SETTLE_S
            or any(c.quality.score >= GOOD_LIVE_QUALITY for c in self._live)
        )
        for candidate in self._chosen_live(encoded):
            if self.counters.live_encodings >= LIVE_ENCODINGS:
                return
            if candidate.encoding is not None:
                continue
            if encoded and not settled:
                return  # a quick first score is there; wait for a good frame before spending the rest
            self.counters.live_encodings += 1
            candidate.encoding = self._encode(candidate.crop, candidate.box_in_crop)
            encoded.append(candidate)

    def _chosen_live(self, encoded: list[_Live] | None = None) -> list[_Live]:
        """Up to :data:`LIVE_ENCODINGS` candidates, frames :data:`LIVE_MIN_GAP_S` apart: the ``encoded``
        ones first (they are paid for and stay), then the best by quality."""
        chosen: list[_Live] = list(encoded or [])[:LIVE_ENCODINGS]
        for candidate in sorted(self._live, key=lambda c: c.rank, reverse=True):
            if len(chosen) >= LIVE_ENCODINGS:
                break
            if candidate not in chosen and all(abs(candidate.t_s - c.t_s) >= LIVE_MIN_GAP_S for c in chosen):
                chosen.append(candidate)
        return chosen

    def _measurements(self) -> dict[str, Any]:
        c = self.counters
        return {
            "model": self.engine.version,
            "threshold": match.MATCH_THRESHOLD,
            "fail_threshold": match.NON_MATCH_THRESHOLD,
            "frames_seen": c.frames,
            "live_frames_checked": c.live_checked,
            "live_frames_with_face": c.with_face,
            "live_frames_several_faces": c.several,
            "live_frame_problems": dict(c.problems),
            "portrait_searches": c.portrait_checked,
            "encodings": c.encodings,
            "portrait_face_px": None if self._portrait is None else round(self._portrait.source_face_px, 1),
        }

    def result(self) -> CheckResult:
        m = self._measurements()
        if self.counters.with_face and self.counters.several / self.counters.with_face > SEVERAL_FACES_SHARE:
            return CheckResult.inconclusive(
                self.name, "several_faces", "several people are in the picture; only the customer may be", **m
            )
        if self._portrait is None:
            return CheckResult.inconclusive(
                self.name, "no_portrait", "no ID photo seen yet: hold the front of the document to the camera", **m
            )
        if not self._live:
            code = "no_live_face" if not self.counters.with_face else "no_usable_live_face"
            return CheckResult.inconclusive(
                self.name, code, "no usable view of the customer's face yet: look straight into the camera", **m
            )
        self._encode_portrait()
        self._encode_live()
        encoded = [c for c in self._live if c.encoding is not None]
        # Pose fallback: turned frames decide only when no frontal frame was encoded (a session that never
        # showed a frontal face is matched on its least-turned frames rather than on none).
        fallback = bool(encoded) and all(c.turned for c in encoded)
        encoded = [c for c in encoded if fallback or not c.turned]
        compared = [
            (card.encoded, card.encoding)
            for card in self._cards
            if card.encoded is not None and card.encoding is not None
        ]
        live = [c.encoding for c in encoded if c.encoding is not None]
        if not compared or not live:  # never: the budgets always allow one of each
            return CheckResult.inconclusive(self.name, "encoding_budget", "the encoding budget is spent", **m)
        # Every card compared must match: the decision is the worst card's median distance.
        per_card = [[match.face_distance(portrait, enc) for enc in live] for _, portrait in compared]
        worst = max(range(len(compared)), key=lambda i: statistics.median(per_card[i]))
        used_portrait, distances = compared[worst][0], per_card[worst]
        distance = statistics.median(distances)
        m = self._measurements()
        m["cards_shown"] = len(self._cards)
        if len(self._cards) > 1:
            m["card_distances"] = [round(statistics.median(d), 4) for d in per_card]
        m["distances"] = [round(d, 4) for d in distances]
        m["live_frames"] = [c.frame_index for c in encoded]
        m["live_quality"] = [c.quality.fallback_score for c in encoded]
        m["live_yaw_deg"] = [round(c.quality.pose.yaw_deg, 1) for c in encoded]
        m["live_pose_fallback"] = fallback
        m["portrait_frame"] = used_portrait.frame_index
        m["portrait_face_px"] = round(used_portrait.source_face_px, 1)
        result = match.decide(distance, self.engine.version, **{k: v for k, v in m.items() if k not in _DECIDE_KEYS})
        if result.verdict is not Verdict.INCONCLUSIVE and used_portrait.source_face_px < MIN_PORTRAIT_SOURCE_FACE_PX:
            return CheckResult.inconclusive(
                self.name,
                "portrait_too_small",
                f"the ID photo was only {used_portrait.source_face_px:.0f} px wide: bring the card closer",
                **result.measurements,
            )
        if result.verdict is Verdict.PASS and len(compared) < len(self._cards):
            return CheckResult.inconclusive(
                self.name,
                "portrait_changed",
                "another ID photo was shown after the portrait budget was spent: compare it by eye",
                **result.measurements,
            )
        return result


_DECIDE_KEYS = {"model", "threshold", "fail_threshold"}
