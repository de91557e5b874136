"""A scored document candidate, and which of a frame's candidates is the document.

A candidate is a quadrilateral in full-resolution frame pixels (TL, TR, BR, BL) with the measurements it was
scored on (:mod:`pipelines.document_geometry` computes them in batch); its ``confidence`` combines them.
:func:`select` picks the document among a frame's candidates: the most confident one, except that a card
holds rectangles of its own (the portrait, a text block) and a phone or a holder frames a card. Pure
geometry on numbers: no image is read here. Split from :mod:`pipelines.document` (the search itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.frame import DocumentKind

__all__ = [
    "DARK_MARGIN_GREY",
    "MAX_ASPECT_LOG_ERROR",
    "MIN_CONFIDENCE",
    "MIN_TEXTURE",
    "SAME_QUAD_FRACTION",
    "ENCLOSING_MIN_AREA",
    "Candidate",
    "contains",
    "dark_frame_around",
    "encloses",
    "rank",
    "same_quad",
    "select",
]

#: Largest |log(aspect / nominal)| accepted. The metric aspect from an assumed 60 deg field of view is
#: off by a few percent when the true FOV is 50-70 deg at 30 deg tilt; 0.14 (15 %) keeps those and
#: rejects most squares and 16:9 screens seen frontally.
MAX_ASPECT_LOG_ERROR = 0.14
#: Interior texture: the fraction of a grid over the quad's inner area (inset 12 %) with a gradient of
#: at least MIN_EDGE_GRADIENT. Printed text, portrait and guilloche give 0.6-0.85 on the fixture cards
#: (front and back); a door, a monitor frame or a blank sheet in the room 0.05-0.10.
MIN_TEXTURE = 0.12
FULL_TEXTURE = 0.4
#: Two quads are the same when every corner is within this fraction of the quad's width of the other's.
SAME_QUAD_FRACTION = 0.015
#: A credible quad containing the best one wins when its confidence is at most this much lower.
CONTAINER_MARGIN = 0.25
#: ... and a TD3 page just around an ID-1-shaped best (GROW_MIN_AREA times its area or more) when at
#: most this much lower: hologram bench passport seed 1008, frame 0: the page (TD3) 0.81, the part of it
#: down to the MRZ's first line (ID-1's aspect) 0.86, and the session then settled on ID-1. Full accuracy
#: run (2026-11-26): 98.3 % found; the rule for every pair of kinds 99.4 % but an ID-1-shaped quad around
#: a passport page (page plus room) failed genuine seed 1026; every pair but that one 97.9 %.
NEAR_CONTAINER_MARGIN = 0.1
#: Size prior: the customer page asks for the card to fill about half the frame width; a quad narrower
#: than FULL_WIDTH_FRACTION of the frame loses up to 30 % of its confidence (a portrait or a text block
#: inside the card must not beat the card).
FULL_WIDTH_FRACTION = 0.4
#: A quad whose surroundings are as busy as a card's print (it is a part of the card) loses up to this
#: share of its confidence (outside texture 1.0); the room behind a card, out of focus, measures 0-0.3.
OUTSIDE_TEXTURE_WEIGHT = 0.25
#: A container whose inner margin (4 % inside its edges) has a median grey at most DARK_MARGIN_GREY
#: around a quad whose margin is at least LIGHT_MARGIN_GREY is a dark frame around the card, not the
#: card: a phone's black screen border and bezel (fixture screen replays, 640x480: 24-26), a card
#: holder. Card print near the edge measures 160-237 on the fixture cards (held, or shown on a screen).
DARK_MARGIN_GREY = 60.0
LIGHT_MARGIN_GREY = 120.0
#: Confidence below which :meth:`DocumentLocator.locate` returns None.
MIN_CONFIDENCE = 0.5
#: A quad "encloses" another (:func:`encloses`) only when it is at least this many times its area, so a
#: quad snapped back onto the same edges (area within 3 %) is not a larger document around it; the
#: locator's growing step uses the same bound (``GROW_MIN_AREA``).
ENCLOSING_MIN_AREA = 1.03


@dataclass(frozen=True)
class Candidate:
    """A scored quadrilateral in full-resolution frame pixels (TL, TR, BR, BL)."""

    corners_px: np.ndarray
    kind: DocumentKind
    support: float
    min_side_support: float
    aspect_error: float
    texture: float
    width_fraction: float
    outside_texture: float = 0.0
    margin_grey: float = 255.0

    @property
    def confidence(self) -> float:
        aspect_factor = max(0.0, 1.0 - self.aspect_error / MAX_ASPECT_LOG_ERROR * 0.5)
        texture_factor = 0.5 + 0.5 * min(1.0, self.texture / FULL_TEXTURE)
        size_factor = 0.7 + 0.3 * min(1.0, self.width_fraction / FULL_WIDTH_FRACTION)
        edges = 0.5 * self.support + 0.5 * self.min_side_support
        outside_factor = 1.0 - OUTSIDE_TEXTURE_WEIGHT * self.outside_texture
        return float(np.clip(edges * aspect_factor * texture_factor * size_factor * outside_factor, 0.0, 1.0))


def rank(candidate: Candidate) -> tuple[float, float]:
    return -candidate.confidence, -float(cv2.contourArea(candidate.corners_px))


def dark_frame_around(outer: Candidate, inner: Candidate) -> bool:
    """Whether ``outer`` is a dark frame (a phone's screen border and bezel, a holder) around the light
    card ``inner``: then the card is the document, not the frame."""
    return outer.margin_grey <= DARK_MARGIN_GREY and inner.margin_grey >= LIGHT_MARGIN_GREY


def select(candidates: list[Candidate]) -> Candidate | None:
    """The most confident candidate, except that a document holds rectangles of its own (the portrait,
    a text block): a credible quad containing the best one is the document, the best one a part of it
    (unless the container is a dark frame around it: a phone showing the card, a holder; and when the
    best is such a frame, the card inside it is taken)."""
    if not candidates:
        return None
    ranked = sorted(candidates, key=rank)
    best = ranked[0]
    for other in ranked[1:]:
        if (
            other.confidence >= best.confidence - CONTAINER_MARGIN
            and contains(other.corners_px, best)
            and not dark_frame_around(other, best)
        ):
            best = other
    # A passport page just around an ID-1-shaped best (the page's part above its MRZ) is the document when
    # it scores nearly as well. Only that way round: an ID-1-shaped quad around a passport page is the
    # page and a strip of the room beside it (hologram bench passport seed 1026).
    for other in ranked:
        if (
            other is not best
            and best.kind is DocumentKind.ID1
            and other.kind is DocumentKind.TD3
            and other.confidence >= best.confidence - NEAR_CONTAINER_MARGIN
            and encloses(other.corners_px, best.corners_px)
            and not dark_frame_around(other, best)
        ):
            best = other
    # The best may itself be the dark frame (the phone scored higher than the card it shows): then the
    # largest credible light quad inside it is the document.
    inside = [
        other
        for other in ranked
        if other is not best
        and other.confidence >= MIN_CONFIDENCE
        and dark_frame_around(best, other)
        and contains(best.corners_px, other)
    ]
    if inside:
        best = max(inside, key=lambda c: float(cv2.contourArea(c.corners_px)))
    return best


def encloses(outer: np.ndarray, inner: np.ndarray) -> bool:
    """Whether quad ``outer`` holds quad ``inner`` (every corner inside, or within 1 % of its width of it:
    two refinements of a shared side differ by ~1 px) and is at least ENCLOSING_MIN_AREA times its area."""
    contour = outer.reshape(4, 1, 2).astype(np.float32)
    slack = -0.01 * float(np.linalg.norm(outer[1] - outer[0]))
    inside = all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= slack for x, y in inner)
    return inside and cv2.contourArea(contour) >= ENCLOSING_MIN_AREA * cv2.contourArea(inner.astype(np.float32))


def contains(outer: np.ndarray, inner: Candidate) -> bool:
    """Whether quad ``outer`` holds ``inner`` (every corner inside or within 3 % of its width of it)."""
    contour = outer.reshape(4, 1, 2).astype(np.float32)
    slack = -0.03 * float(np.linalg.norm(outer[1] - outer[0]))
    inside = all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= slack for x, y in inner.corners_px)
    return inside and cv2.contourArea(contour) > 1.3 * cv2.contourArea(inner.corners_px)


def same_quad(a: np.ndarray, b: np.ndarray, fraction: float = SAME_QUAD_FRACTION) -> bool:
    """Whether quads ``a`` and ``b`` (4, 2), in the same corner order, agree within ``fraction`` of a's
    top width at every corner."""
    a = np.asarray(a, dtype=np.float64).reshape(4, 2)
    b = np.asarray(b, dtype=np.float64).reshape(4, 2)
    width = float(np.linalg.norm(a[1] - a[0]))
    return bool(np.all(np.isfinite(b)) and float(np.linalg.norm(a - b, axis=1).max()) <= fraction * width)
