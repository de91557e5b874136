"""Find an ID document (ID-1 card or TD3 passport page) in a webcam frame, and rectify it.

Input: a BGR uint8 (H, W, 3) frame, typically 1280x720 or 640x480. Output: a
:class:`pipelines.frame.DocumentView` with the four corners (TL, TR, BR, BL of the document, float32
frame pixels), the document warped flat to the canonical size of :mod:`pipelines.layouts`, its kind, the
side shown when it can be told, yaw/pitch (:mod:`pipelines.tilt`) and a confidence.

Method (all steps on a copy downscaled to :data:`WORK_WIDTH_PX`, then refined at full resolution):

1. Candidate quadrilaterals from the contours of Canny edge maps (grey and saturation, two thresholds):
   the convex hull of each large contour simplified to four vertices; plus the previous frame's corners
   when the caller passes them as a ``hint`` (tracking survives a finger over an edge).
2. Each candidate is scored by *edge support*: the fraction of points along each side where the image
   gradient is strong and perpendicular to the side. The worst side counts most, so a quad made of one
   card edge and three clutter edges loses. Candidates whose metric aspect ratio (perspective removed with
   the pinhole model of :mod:`pipelines.tilt`) is far from both ID-1 and TD3 are dropped.
3. The winner's sides are refined at full resolution: along each side, the strongest gradient across the
   side is searched within a narrow band and a line is fitted robustly (outliers from fingers and glare
   dropped); the corners are the intersections of the four lines.

Broken frames never raise: a frame without a credible quad gives ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.document_candidate import (
    DARK_MARGIN_GREY,
    ENCLOSING_MIN_AREA,
    MAX_ASPECT_LOG_ERROR,
    MIN_CONFIDENCE,
    MIN_TEXTURE,
    Candidate,
    encloses,
    rank,
    same_quad,
    select,
)
from pipelines.document_edges import (
    MIN_EDGE_GRADIENT,
    SIDE_SAMPLES,
    intersect,
    line_quads,
    quads_from_edges,
    refine_corners,
    refine_many,
)
from pipelines.document_geometry import (
    dedupe_many,
    interior_texture_many,
    margin_grey_many,
    metric_aspects_many,
    order_corners_many,
    outside_texture_many,
    plausible_many,
    side_margin_grey_many,
    side_support_many,
)
from pipelines.document_side import classify_side
from pipelines.frame import DocumentKind, DocumentView
from pipelines.layouts import DOCUMENT_SIZE_MM, rectified_size_px
from pipelines.tilt import DEFAULT_HFOV_DEG, CameraModel, estimate_pose

__all__ = [
    "WORK_WIDTH_PX",
    "MIN_CONFIDENCE",
    "TRACK_CONFIDENCE",
    "Candidate",
    "DocumentLocator",
    "Located",
    "Work",
    "order_corners",
    "rectify",
    "classify_side",
]

#: Detection runs on a copy at most this wide, downscaled by an integer factor (720p -> 640x360, 480p
#: as is); the corners are then refined at full resolution, so precision is not lost.
WORK_WIDTH_PX = 640
#: A document narrower than this fraction of the frame width is not searched for (at 640x480 a card
#: 10 % wide is 64 px: unreadable, and too small for any check). Quality asks to "move closer" earlier.
MIN_WIDTH_FRACTION = 0.10
#: Aspect ratios (width / height) of the two kinds: ISO/IEC 7810 ID-1 and ICAO 9303 TD3.
ASPECT = {kind: w / h for kind, (w, h) in DOCUMENT_SIZE_MM.items()}
#: ... and when the kind is known (the session's majority): fixture cards measured <= 0.03 after
#: refinement at up to 30 deg of tilt; a card cut short at a faint edge is off by 0.1 or more.
MAX_KNOWN_ASPECT_LOG_ERROR = 0.07
#: A quad is a document only when its weakest side is supported on at least this fraction of its length
#: (a finger may cover up to half of one side) and its mean support reaches MIN_MEAN_SUPPORT.
MIN_SIDE_SUPPORT = 0.35
MIN_MEAN_SUPPORT = 0.6
#: A tracked quad (snapped from the previous frame's corners) is kept without a full search at this
#: confidence: above the typical 0.75-0.97 of a clean card, below a finger-covered one.
TRACK_CONFIDENCE = 0.7
#: A tracked quad below TRACK_CONFIDENCE is still kept without a full search when the last full search
#: found the same quad on its own (see :class:`pipelines.document_track.DocumentTracker`) and snapping moved
#: the flow's prediction by at most SNAP_AGREE_FRACTION of the quad's width at every corner (the edges
#: are where the card's print moved them). Fixture speed scene (nl-id seed 11, 720p): a snap on the card
#: moves the prediction 0.1-1 % of the width.
SNAP_AGREE_FRACTION = 0.015
#: Candidates of a full search refined at full resolution and re-scored before the final choice.
REFINED_CANDIDATES = 4
#: Interior angles of a credible quad (a card tilted 45 deg still keeps its angles inside this).
MIN_INTERIOR_ANGLE_DEG = 45.0
#: Refinement: half-width of the band searched across each side, in work pixels (scaled to full res).
REFINE_BAND_WORK_PX = 2.5
#: Two-sided LSD quads (two opposite lines, the other sides from their end points) snapped onto the edges
#: before scoring, at most this many, when their aspect is within TWO_SIDE_ASPECT_LOG_ERROR of a kind's
#: (the end points may be a thumb's width off).
TWO_SIDE_SNAPPED = 12
TWO_SIDE_ASPECT_LOG_ERROR = 0.25
#: The chosen quad's sides are moved out by this fraction of its width and snapped again: a card's
#: printed area sits 1.5-4 % of the card's width inside its edges (fixture nl-id front: header text
#: 3 mm below the top edge of an 85.6 mm card). The grown quad wins when it encloses the chosen one, is
#: GROW_MIN_AREA times its area or more (not the same quad snapped back) and scores at most GROW_MARGIN
#: lower (a card edge that is faint).
GROW_FRACTION = 0.035
GROW_MIN_AREA = ENCLOSING_MIN_AREA
GROW_MARGIN = 0.1
GROW_SUPPORT_MARGIN = 0.1
#: ... repeated up to this many times (the printed area can sit 2 steps inside a tilted card's far edge).
GROW_STEPS = 2
#: Candidates (best first) whose refinement also tries the wide first pass.
WIDE_REFINED_CANDIDATES = 1
#: Two candidates whose first refinement pass lands within this (full-res px, every corner) of each other
#: have converged on the same edges; the second is not refined and scored again (de-id seed 2, 720p: in 5
#: of 10 searches a later candidate's first pass landed 0.1-0.6 px from the best's; the edge maps give
#: near-duplicates of the card).
CONVERGED_PX = 0.5


def order_corners(points: np.ndarray) -> np.ndarray:
    """Order four points as TL, TR, BR, BL (clockwise on screen), starting from the top-left.

    The document is taken to be upright within +-45 deg of in-plane rotation (the content decides a
    180 deg turn, see :func:`classify_side`); a quad whose long sides are vertical is returned as it is,
    and :func:`_is_landscape` rejects it.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    order = np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))
    pts = pts[order]  # clockwise on screen (y down)
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return pts[(np.arange(4) + start) % 4]


def rectify(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> np.ndarray:
    """The document warped flat: BGR uint8 of :func:`pipelines.layouts.rectified_size_px` for ``kind``."""
    width, height = rectified_size_px(kind)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(corners_px, dtype=np.float32), dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _offset_quad(quad: np.ndarray, distance: float, side: int) -> np.ndarray:
    """The convex quad (4, 2) with side ``side`` (from corner ``side`` to the next) moved outwards by
    ``distance`` px along its normal: (4, 2) float64."""
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2).copy()
    a, b = q[side], q[(side + 1) % 4]
    normal = np.array([b[1] - a[1], a[0] - b[0]]) / max(float(np.linalg.norm(b - a)), 1e-9)
    if float(np.dot(normal, (a + b) / 2 - q.mean(axis=0))) < 0:  # outwards
        normal = -normal
    q[side] += distance * normal
    q[(side + 1) % 4] += distance * normal
    return q


@dataclass(frozen=True)
class Located:
    """What :meth:`DocumentLocator.locate_prepared` found: the view (None: no credible document),
    whether the full search ran, and whether that search's own choice (without the tracked quad) was the
    quad returned (``confirmed``; False when no search ran)."""

    view: DocumentView | None
    searched: bool
    confirmed: bool = False


@dataclass(frozen=True)
class Work:
    """One frame prepared for the locator, computed once per frame: the copy downscaled by ``1 / scale``
    (BGR uint8), its blurred grey (uint8) and Sobel gradients (float32), the camera model of that copy,
    and the full-resolution grey (uint8) for refinement."""

    scale: float
    small: np.ndarray
    grey: np.ndarray
    grad_x: np.ndarray
    grad_y: np.ndarray
    magnitude: np.ndarray
    camera: CameraModel
    full_grey: np.ndarray


class DocumentLocator:
    """Finds the document in frames. Stateless between calls (tracking goes through ``hint``), so one
    instance may serve one session's worker thread; it holds only its settings."""

    def __init__(self, hfov_deg: float = DEFAULT_HFOV_DEG, work_width_px: int = WORK_WIDTH_PX) -> None:
        self.hfov_deg = hfov_deg
        self.work_width_px = work_width_px

    def prepare(self, image: np.ndarray) -> Work | None:
        """``image`` (BGR uint8 (H, W, 3)) prepared for :meth:`locate_prepared`; None when it is not a
        usable frame (wrong shape, smaller than 32 px)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 32 or image.shape[1] < 32:
            return None
        h, w = image.shape[:2]
        factor = max(1, math.ceil(w / self.work_width_px))  # integer: INTER_AREA's fast path
        scale = 1.0 / factor
        small = image if factor == 1 else cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        grad_x = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        grad_y = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = cv2.magnitude(grad_x, grad_y)
        full_grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        camera = CameraModel(sw, sh, self.hfov_deg)
        return Work(scale, small, grey, grad_x, grad_y, magnitude, camera, full_grey)

    def _score(self, work: Work, quad: np.ndarray, kind: DocumentKind | None = None) -> Candidate | None:
        """Score one quad given in work pixels; None when it is not a credible document."""
        scored = self._score_many(work, np.asarray(quad, dtype=np.float32).reshape(1, 4, 2), kind)
        return scored[0] if scored else None

    def _score_many(self, work: Work, quads: np.ndarray, kind: DocumentKind | None = None) -> list[Candidate]:
        """Score quads (N, 4, 2) given in work pixels: the credible ones, as candidates. The geometric tests
        and the edge support run on all quads at once; texture only on the few that pass them."""
        return [c for c in self._score_each(work, quads, kind) if c is not None]

    def _score_each(self, work: Work, quads: np.ndarray, kind: DocumentKind | None = None) -> list[Candidate | None]:
        """:meth:`_score_many`, aligned with ``quads``: None where a quad is not credible."""
        out: list[Candidate | None] = [None] * len(quads)
        if len(quads) == 0:
            return out
        ordered = order_corners_many(quads)
        ids = np.flatnonzero(plausible_many(ordered, MIN_INTERIOR_ANGLE_DEG))
        ordered = ordered[ids]
        if len(ordered) == 0:
            return out
        aspects = metric_aspects_many(ordered, work.camera.matrix)
        kinds = list(ASPECT) if kind is None else [kind]
        with np.errstate(divide="ignore", invalid="ignore"):
            errors = np.stack([np.abs(np.log(aspects / ASPECT[k])) for k in kinds], axis=1)  # (N, kinds)
        errors = np.where(np.isfinite(errors), errors, np.inf)
        best_kind = np.argmin(errors, axis=1)
        best_error = errors[np.arange(len(ordered)), best_kind]
        limit = MAX_ASPECT_LOG_ERROR if kind is None else MAX_KNOWN_ASPECT_LOG_ERROR
        keep = best_error <= limit
        ordered, best_kind, best_error, ids = ordered[keep], best_kind[keep], best_error[keep], ids[keep]
        if len(ordered) == 0:
            return out
        # float32 fractions compared in float64, as the single-quad scoring always did (14/40 < 0.35).
        support = side_support_many(work.grad_x, work.grad_y, ordered, SIDE_SAMPLES, MIN_EDGE_GRADIENT)
        support = support.astype(np.float64)
        keep = (support.min(axis=1) >= MIN_SIDE_SUPPORT) & (support.mean(axis=1) >= MIN_MEAN_SUPPORT)
        index = np.flatnonzero(keep)
        if len(index) == 0:
            return out
        texture = interior_texture_many(work.magnitude, ordered[index], MIN_EDGE_GRADIENT)
        index, texture = index[texture >= MIN_TEXTURE], texture[texture >= MIN_TEXTURE]
        kept = ordered[index]
        outside = outside_texture_many(work.magnitude, kept, MIN_EDGE_GRADIENT)
        margin = margin_grey_many(work.grey, kept)
        widths = np.linalg.norm(kept[:, 1] - kept[:, 0], axis=1) / work.grey.shape[1]
        for k, i in enumerate(index):
            out[int(ids[i])] = Candidate(
                kept[k] / work.scale,
                kinds[int(best_kind[i])],
                float(support[i].mean()),
                float(support[i].min()),
                float(best_error[i]),
                float(texture[k]),
                float(widths[k]),
                float(outside[k]),
                float(margin[k]),
            )
        return out

    def candidates(self, image: np.ndarray) -> list[Candidate]:
        """All credible candidates of a full search, best first, in full-resolution pixels (unrefined)."""
        work = self.prepare(image)
        return [] if work is None else self._search(work)

    def _grown(self, work: Work, best: Candidate) -> Candidate:
        """``best``, or the credible quad just around it. A card's printed area (the header text, the
        guilloche's edge) makes a quad a few percent inside the card with strong sides, which wins when
        the card's own edges are faint (light on light). Each side alone is moved out by GROW_FRACTION of
        the quad's width and snapped onto the strongest edge within 3/4 of that (so not back onto
        itself); a side moves when its edge there is supported about as well (GROW_SUPPORT_MARGIN) and
        the strip it moves over is not dark (DARK_MARGIN_GREY: a phone's border around the card). The
        moved quad is taken when it encloses ``best`` and scores at most GROW_MARGIN lower."""
        corners = np.asarray(best.corners_px, dtype=np.float64)
        width = 0.5 * float(np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3]))
        step = GROW_FRACTION * width
        moved = np.stack([_offset_quad(corners, step, side) for side in range(4)])
        snapped = refine_many(work.full_grey, moved, 0.75 * step)  # quad k: its side k moved out
        quads = np.concatenate([corners[None], snapped]).astype(np.float32) * work.scale
        support = side_support_many(work.grad_x, work.grad_y, quads, SIDE_SAMPLES, MIN_EDGE_GRADIENT)
        lines = [(corners[k], corners[(k + 1) % 4]) for k in range(4)]
        changed = False
        h, w = work.grey.shape
        t = np.linspace(0.1, 0.9, 12)[:, None]
        for k in range(4):
            if support[k + 1, k] < support[0, k] - GROW_SUPPORT_MARGIN:
                continue
            a, b = snapped[k, k].astype(np.float64), snapped[k, (k + 1) % 4].astype(np.float64)
            # The strip the side moves over must be card, not a dark frame around it (a phone's border).
            strip = ((corners[k] + a) / 2 + t * ((corners[(k + 1) % 4] + b) / 2 - (corners[k] + a) / 2)) * work.scale
            xs = np.clip(np.rint(strip[:, 0]).astype(np.int32), 0, w - 1)
            ys = np.clip(np.rint(strip[:, 1]).astype(np.int32), 0, h - 1)
            if float(np.median(work.grey[ys, xs])) > DARK_MARGIN_GREY:
                lines[k] = (a, b)
                changed = True
        if not changed:
            return best
        joined = []
        for k in range(4):
            (a, b), (c, d) = lines[k - 1], lines[k]
            point = intersect(a, b - a, c, d - c)
            if point is None:
                return best
            joined.append(point)
        grown = refine_many(work.full_grey, np.asarray(joined)[None], REFINE_BAND_WORK_PX / work.scale)
        candidate = self._score_each(work, grown * work.scale, best.kind)[0]  # the same kind of document
        if candidate is None or candidate.confidence < best.confidence - GROW_MARGIN:
            return best
        return candidate if encloses(candidate.corners_px, best.corners_px) else best

    def _snap_two_sided(self, work: Work, quads: list[np.ndarray]) -> list[np.ndarray]:
        """Quads of two opposite LSD lines (work px) snapped onto the edges at full resolution: their other
        two sides come from the lines' end points, often several px off a faint or hidden edge, so they
        fail the edge support before refinement could fix them. Only credible ones (angles, aspect,
        printed inside), at most TWO_SIDE_SNAPPED, longest lines first (the lines' order)."""
        if not quads:
            return []
        ordered = order_corners_many(np.stack(quads))
        ordered = ordered[plausible_many(ordered, MIN_INTERIOR_ANGLE_DEG)]
        if len(ordered) == 0:
            return []
        aspects = metric_aspects_many(ordered, work.camera.matrix)
        with np.errstate(divide="ignore", invalid="ignore"):
            errors = np.min([np.abs(np.log(aspects / a)) for a in ASPECT.values()], axis=0)
        ordered = ordered[np.isfinite(errors) & (errors <= TWO_SIDE_ASPECT_LOG_ERROR)]
        if len(ordered) == 0:
            return []
        ordered = ordered[interior_texture_many(work.magnitude, ordered, MIN_EDGE_GRADIENT) >= MIN_TEXTURE]
        ordered = ordered[:TWO_SIDE_SNAPPED]
        if len(ordered) == 0:
            return []
        band = REFINE_BAND_WORK_PX / work.scale
        snapped = refine_many(work.full_grey, ordered / work.scale, 5 * band)
        snapped = refine_many(work.full_grey, snapped, band) * work.scale
        # A side snapped onto the dark frame around a card shown on a phone (its inner margin dark) is not
        # the card's: fixture screen replay nl-id 1015 (the screen's top edge 20 px above the card's).
        light = side_margin_grey_many(work.grey, snapped).min(axis=1) > DARK_MARGIN_GREY
        return list(snapped[light])

    def _search(self, work: Work, kind: DocumentKind | None = None) -> list[Candidate]:
        sh, sw = work.grey.shape
        min_side = MIN_WIDTH_FRACTION * sw
        min_area = min_side * min_side / ASPECT[DocumentKind.ID1]
        max_area = 0.98 * sw * sh
        kernel = np.ones((3, 3), np.uint8)
        quads: list[np.ndarray] = []
        sat = cv2.GaussianBlur(cv2.cvtColor(work.small, cv2.COLOR_BGR2HSV)[:, :, 1], (5, 5), 0)
        for channel, (lo, hi) in ((work.grey, (15, 45)), (work.grey, (40, 120)), (sat, (20, 60))):
            canny = cv2.Canny(channel, lo, hi)
            quads.extend(quads_from_edges(cv2.dilate(canny, kernel), min_area, max_area))
        lines = line_quads(work.grey, min_side)
        quads.extend(lines.two_sides)
        quads.extend(lines.four_sides)
        quads.extend(self._snap_two_sided(work, lines.two_sides))
        stacked = np.stack(quads).astype(np.float32) if quads else np.zeros((0, 4, 2), np.float32)
        results = self._score_many(work, stacked[dedupe_many(stacked)], kind)
        best = select(results)
        return [] if best is None else [best, *sorted((c for c in results if c is not best), key=rank)]

    def locate(
        self,
        image: np.ndarray,
        hint: np.ndarray | None = None,
        verify: bool = False,
        kind: DocumentKind | None = None,
    ) -> DocumentView | None:
        """The document in ``image`` (BGR uint8 (H, W, 3)), or None when there is no credible one.

        ``hint``: the previous frame's corners (4, 2). When the document is still there (it snaps to the
        edges near the hint with confidence >= :data:`TRACK_CONFIDENCE`) the full search is skipped,
        unless ``verify`` asks for it (the tracked quad then competes with the search's candidates).
        ``kind``: the session's document kind once known; only quads of its aspect ratio are then taken
        (within :data:`MAX_KNOWN_ASPECT_LOG_ERROR`), so a card cut short by a faint edge cannot pass for
        a passport page."""
        work = self.prepare(image)
        if work is None:
            return None
        return self.locate_prepared(image, work, hint, verify, kind).view

    def locate_prepared(
        self,
        image: np.ndarray,
        work: Work,
        hint: np.ndarray | None = None,
        verify: bool = False,
        kind: DocumentKind | None = None,
        keep_confidence: float = TRACK_CONFIDENCE,
    ) -> Located:
        """:meth:`locate` on a frame already prepared (``work = self.prepare(image)``); also says whether
        the full search ran (False: the hint was snapped and kept) and whether it confirmed the result.

        ``keep_confidence`` (<= :data:`TRACK_CONFIDENCE`): a snapped hint scored at least this is kept
        without a search when snapping moved it by at most :data:`SNAP_AGREE_FRACTION` (the tracker
        lowers it only while the last full search confirmed its quad)."""
        grey = work.full_grey
        band = REFINE_BAND_WORK_PX / work.scale
        tracked: Candidate | None = None
        if hint is not None and np.all(np.isfinite(hint)):
            snapped = refine_corners(grey, np.asarray(hint, dtype=np.float32).reshape(4, 2), 3 * band)
            snapped = refine_corners(grey, snapped, band)
            tracked = self._score(work, snapped * work.scale, kind)
        # Kept at TRACK_CONFIDENCE; lower only at the tracker's word (the last search confirmed this quad)
        # and when the snap agrees with the prediction. Keeping any weaker tracked quad (down to the
        # previous frame's confidence) let a quad 20 px off the card follow itself for 6+ frames (fixture
        # nl-id seed 502 sampled at 5 fps: median corner error 84 px instead of 1.3 px).
        keep = tracked is not None and not verify and tracked.confidence >= TRACK_CONFIDENCE
        if tracked is not None and hint is not None and not keep and not verify:
            if tracked.confidence >= keep_confidence:
                keep = same_quad(order_corners(hint), tracked.corners_px, SNAP_AGREE_FRACTION)
        searched = not keep
        confirmed = False
        if tracked is not None and keep:
            best = tracked
        else:
            refined: list[Candidate] = [] if tracked is None else [tracked]
            # A narrow first pass keeps a good quad on its edges; a wide one catches a quad built from line
            # ends (rounded corners, a thumb); both compete on their scores. Only the best candidate gets
            # the wide pass (de-id seed 2, 720p: the winner was the best candidate's narrow or wide pass in
            # all 9 searches that found the card). All passes of all candidates run batched.
            coarse = [c.corners_px for c in self._search(work, kind)[:REFINED_CANDIDATES]]
            if coarse:
                narrow = refine_many(grey, np.stack(coarse), 2 * band)
                wide = refine_many(grey, np.stack(coarse[:WIDE_REFINED_CANDIDATES]), 5 * band)
                first_passes: list[np.ndarray] = []
                for rank in range(len(coarse)):
                    for corners in (narrow[rank], wide[rank]) if rank < len(wide) else (narrow[rank],):
                        if any(float(np.abs(corners - seen).max()) < CONVERGED_PX for seen in first_passes):
                            continue  # converged onto a quad already refined: the same result again
                        first_passes.append(corners)
                second = refine_many(grey, np.stack(first_passes), band)
                refined.extend(c for c in self._score_each(work, second * work.scale, kind) if c is not None)
            chosen = select(refined)
            if chosen is None or chosen.confidence < MIN_CONFIDENCE:
                return Located(None, searched)
            for _ in range(GROW_STEPS):
                grown = self._grown(work, chosen)
                if grown is chosen:
                    break
                chosen = grown
            best = chosen
            own = chosen if tracked is None or chosen is not tracked else select(refined[1:])
            confirmed = own is not None and own.confidence >= MIN_CONFIDENCE
            confirmed = confirmed and own is not None and same_quad(chosen.corners_px, own.corners_px)
        kind = best.kind
        side, corners = classify_side(image, best.corners_px, kind)
        rectified = rectify(image, corners, kind)
        pose = estimate_pose(corners, kind, CameraModel.for_image(image, self.hfov_deg))
        view = DocumentView(
            corners_px=corners.astype(np.float32),
            rectified=rectified,
            kind=kind,
            side=side,
            yaw_deg=None if pose is None else pose.yaw_deg,
            pitch_deg=None if pose is None else pose.pitch_deg,
            confidence=best.confidence,
        )
        return Located(view, searched, confirmed)


