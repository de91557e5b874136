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

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.frame import DocumentKind, DocumentSide, DocumentView
from pipelines.layouts import DOCUMENT_SIZE_MM, ZoneName, layout_for, rectified_size_px
from pipelines.tilt import DEFAULT_HFOV_DEG, CameraModel, estimate_pose, metric_aspect

__all__ = [
    "WORK_WIDTH_PX",
    "MIN_CONFIDENCE",
    "Candidate",
    "DocumentLocator",
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
#: Largest |log(aspect / nominal)| accepted. The metric aspect from an assumed 60 deg field of view is
#: off by a few percent when the true FOV is 50-70 deg at 30 deg tilt; 0.14 (15 %) keeps those and
#: rejects most squares and 16:9 screens seen frontally.
MAX_ASPECT_LOG_ERROR = 0.14
#: Edge support: a side point counts when the gradient across the side is at least this strong (Sobel
#: 3x3 on 0..255 grey, gain 8 for a unit step: a 6-level step). Real card edges in the fixture scenes and
#: the passporteye specimens measure 60-400.
MIN_EDGE_GRADIENT = 24.0
#: Points sampled along each side for the support score and for refinement.
SIDE_SAMPLES = 40
#: A quad is a document only when its weakest side is supported on at least this fraction of its length
#: (a finger may cover up to half of one side) and its mean support reaches MIN_MEAN_SUPPORT.
MIN_SIDE_SUPPORT = 0.35
MIN_MEAN_SUPPORT = 0.6
#: Interior texture: the fraction of a grid over the quad's inner area (inset 12 %) with a gradient of
#: at least MIN_EDGE_GRADIENT. Printed text, portrait and guilloche give 0.6-0.85 on the fixture cards
#: (front and back); a door, a monitor frame or a blank sheet in the room 0.05-0.10.
MIN_TEXTURE = 0.12
FULL_TEXTURE = 0.4
#: A contour hull simplified to 5..this many vertices is tried as every 4-vertex subset (at most 15).
MAX_HULL_VERTICES = 6
#: ... and a subset must keep this much of the hull's area (a finger adds a little, it does not halve it).
MIN_SUBSET_AREA_FRACTION = 0.6
#: A tracked quad (snapped from the previous frame's corners) is kept without a full search at this
#: confidence: above the typical 0.75-0.97 of a clean card, below a finger-covered one.
TRACK_CONFIDENCE = 0.7
#: Straight runs of a contour: polygon tolerance (work px), how many of the longest runs are combined
#: four at a time (at most 15 quads per contour), and the shortest run considered (fraction of the
#: contour's bounding box).
SEGMENT_EPS_PX = 2.0
MAX_SEGMENTS = 6
#: ... tried on at most this many contours per edge map (the largest first).
MAX_SEGMENT_CONTOURS = 4
MIN_SEGMENT_FRACTION = 0.2
#: A credible quad containing the best one wins when its confidence is at most this much lower.
CONTAINER_MARGIN = 0.25
#: Hough lines: near-horizontal / near-vertical means within this angle (a card with +-30 deg of roll
#: and perspective still has its sides inside); at most MAX_LINES merged lines per direction (<= 45 x 45
#: pairs in theory, far fewer pass the geometric tests); collinear pieces merge within MERGE_DIST_PX and
#: about 3 deg; a corner may lie beyond a side's visible segment by LINE_REACH of its length (a thumb or
#: the rounded corner hides the end).
LINE_ANGLE_DEG = 35.0
MAX_LINES = 10
#: Shortest LSD segment used, as a fraction of the smallest card side searched for.
MIN_LINE_FRACTION = 0.3
MERGE_DIST_PX = 3.0
MERGE_COS = 0.9986
LINE_REACH = 0.6
#: Size prior: the customer page asks for the card to fill about half the frame width; a quad narrower
#: than FULL_WIDTH_FRACTION of the frame loses up to 30 % of its confidence (a portrait or a text block
#: inside the card must not beat the card).
FULL_WIDTH_FRACTION = 0.4
#: Candidates of a full search refined at full resolution and re-scored before the final choice.
REFINED_CANDIDATES = 4
#: A quad whose surroundings are as busy as a card's print (it is a part of the card) loses up to this
#: share of its confidence (outside texture 1.0); the room behind a card, out of focus, measures 0-0.3.
OUTSIDE_TEXTURE_WEIGHT = 0.25
#: Confidence below which :meth:`DocumentLocator.locate` returns None.
MIN_CONFIDENCE = 0.5
#: Interior angles of a credible quad (a card tilted 45 deg still keeps its angles inside this).
MIN_INTERIOR_ANGLE_DEG = 45.0
#: Refinement: half-width of the band searched across each side, in work pixels (scaled to full res).
REFINE_BAND_WORK_PX = 2.5
#: Refinement: a refined side point further than this (full-res px) from the fitted line is an outlier.
REFINE_INLIER_PX = 1.5


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

    @property
    def confidence(self) -> float:
        aspect_factor = max(0.0, 1.0 - self.aspect_error / MAX_ASPECT_LOG_ERROR * 0.5)
        texture_factor = 0.5 + 0.5 * min(1.0, self.texture / FULL_TEXTURE)
        size_factor = 0.7 + 0.3 * min(1.0, self.width_fraction / FULL_WIDTH_FRACTION)
        edges = 0.5 * self.support + 0.5 * self.min_side_support
        outside_factor = 1.0 - OUTSIDE_TEXTURE_WEIGHT * self.outside_texture
        return float(np.clip(edges * aspect_factor * texture_factor * size_factor * outside_factor, 0.0, 1.0))


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


def _is_landscape(quad: np.ndarray) -> bool:
    """Whether the TL-TR and BR-BL sides are the long ones. ID documents are shown in landscape (the
    customer page asks for it); a portrait-shaped quad is a photo, a door or a phone, not the card."""
    top = np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])
    side = np.linalg.norm(quad[2] - quad[1]) + np.linalg.norm(quad[3] - quad[0])
    return bool(top > side)


def rectify(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> np.ndarray:
    """The document warped flat: BGR uint8 of :func:`pipelines.layouts.rectified_size_px` for ``kind``."""
    width, height = rectified_size_px(kind)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(corners_px, dtype=np.float32), dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _interior_angles_ok(quad: np.ndarray) -> bool:
    prev = np.roll(quad, 1, axis=0) - quad
    nxt = np.roll(quad, -1, axis=0) - quad
    norms = np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1)
    if float(norms.min()) < 1e-6:
        return False
    cosines = np.sum(prev * nxt, axis=1) / norms
    limit = math.cos(math.radians(MIN_INTERIOR_ANGLE_DEG))  # angle in [min, 180 - min] <=> |cos| <= limit
    return bool(np.all(np.abs(cosines) <= limit))


def _side_support(grad_x: np.ndarray, grad_y: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Per side (4,), the fraction of sample points with a strong gradient across the side."""
    h, w = grad_x.shape
    quad = np.asarray(quad, dtype=np.float32)
    direction = np.roll(quad, -1, axis=0) - quad  # (4, 2)
    length = np.linalg.norm(direction, axis=1)
    if float(length.min()) < 1e-3:
        return np.zeros(4, dtype=np.float32)
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / length[:, None]
    t = (0.04 + 0.92 * (np.arange(SIDE_SAMPLES, dtype=np.float32) + 0.5) / SIDE_SAMPLES)[None, :, None]
    pts = quad[:, None, :] + t * direction[:, None, :]  # (4, S, 2)
    offsets = np.array([-1.0, 0.0, 1.0], dtype=np.float32)[None, None, :, None]
    probe = pts[:, :, None, :] + offsets * normal[:, None, None, :]  # (4, S, 3, 2)
    xs = np.clip(np.rint(probe[..., 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(probe[..., 1]).astype(np.int32), 0, h - 1)
    across = np.abs(grad_x[ys, xs] * normal[:, None, None, 0] + grad_y[ys, xs] * normal[:, None, None, 1])
    best = across.max(axis=2)  # (4, S)
    inside = (pts[..., 0] >= 0) & (pts[..., 0] < w) & (pts[..., 1] >= 0) & (pts[..., 1] < h)
    return np.mean((best >= MIN_EDGE_GRADIENT) & inside, axis=1).astype(np.float32)


def _interior_texture(magnitude: np.ndarray, quad: np.ndarray) -> float:
    """Fraction of a 16x10 grid over the quad's interior (inset 12 %) with a strong gradient."""
    h, w = magnitude.shape
    u = np.linspace(0.12, 0.88, 16)
    v = np.linspace(0.12, 0.88, 10)
    uu, vv = np.meshgrid(u, v)
    top = quad[0][None, None, :] * (1 - uu[..., None]) + quad[1][None, None, :] * uu[..., None]
    bottom = quad[3][None, None, :] * (1 - uu[..., None]) + quad[2][None, None, :] * uu[..., None]
    pts = (top * (1 - vv[..., None]) + bottom * vv[..., None]).reshape(-1, 2)
    xs = np.clip(np.rint(pts[:, 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(pts[:, 1]).astype(np.int32), 0, h - 1)
    dilated = magnitude[ys, xs]
    for dx, dy in ((1, 0), (0, 1), (1, 1)):
        dilated = np.maximum(dilated, magnitude[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)])
    return float(np.mean(dilated >= MIN_EDGE_GRADIENT))


def _outside_texture(magnitude: np.ndarray, quad: np.ndarray) -> float:
    """Fraction of points on a ring just outside the quad (6 % of its size out) with a strong gradient.
    Outside a card is the room, out of focus; outside a text block or the portrait is still the card."""
    h, w = magnitude.shape
    centre = quad.mean(axis=0)
    t = np.linspace(0.1, 0.9, 12)[None, :, None]
    pts = quad[:, None, :] + t * (np.roll(quad, -1, axis=0) - quad)[:, None, :]
    pts = centre + (pts - centre) * 1.06
    pts = pts.reshape(-1, 2)
    xs, ys = np.rint(pts[:, 0]).astype(np.int32), np.rint(pts[:, 1]).astype(np.int32)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    if not inside.any():
        return 0.0
    xs, ys = xs[inside], ys[inside]
    strong = magnitude[ys, xs] >= MIN_EDGE_GRADIENT
    for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
        strong |= magnitude[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] >= MIN_EDGE_GRADIENT
    return float(np.mean(strong))


def _best_kind(corners_px: np.ndarray, camera: CameraModel) -> tuple[DocumentKind, float] | None:
    aspect = metric_aspect(corners_px, camera)
    if aspect is None or not np.isfinite(aspect) or aspect <= 0:
        return None
    errors = {kind: abs(math.log(aspect / nominal)) for kind, nominal in ASPECT.items()}
    kind = min(errors, key=lambda k: errors[k])
    return kind, errors[kind]


def _quads_from_edges(edges: np.ndarray, min_area: float, max_area: float) -> list[np.ndarray]:
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads: list[np.ndarray] = []
    segment_budget = MAX_SEGMENT_CONTOURS
    contours = sorted(contours, key=lambda c: -cv2.boundingRect(c)[2] * cv2.boundingRect(c)[3])
    for contour in contours:
        if len(contour) < 4:
            continue
        x, y, cw, ch = cv2.boundingRect(contour)
        if cw * ch < min_area:
            continue
        hull = cv2.convexHull(contour)
        area = cv2.contourArea(hull)
        if not min_area <= area <= max_area:
            continue
        perimeter = cv2.arcLength(hull, True)
        for eps in (0.015, 0.03, 0.06):
            approx = cv2.approxPolyDP(hull, eps * perimeter, True).reshape(-1, 2).astype(np.float32)
            if len(approx) == 4:
                quads.append(approx)
                break
            if len(approx) < 4:
                break
            if len(approx) <= MAX_HULL_VERTICES:
                # A finger or a crossing object adds vertices to the hull: the card's corners are 4 of them.
                for combo in itertools.combinations(range(len(approx)), 4):
                    quad = approx[list(combo)]
                    if cv2.contourArea(quad) >= MIN_SUBSET_AREA_FRACTION * area:
                        quads.append(quad)
        else:  # the hull did not give a quad: the card may be joined to something; try its straight runs
            if segment_budget > 0:
                segment_budget -= 1
                quads.extend(_quads_from_segments(contour, max(cw, ch)))
    return quads


def _merge_lines(segments: np.ndarray, max_lines: int) -> np.ndarray:
    """Greedy merge of collinear segments (N, 4) x1 y1 x2 y2, longest first: (M, 4) merged segments."""
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    merged: list[np.ndarray] = []
    for k in np.argsort(lengths)[::-1]:
        seg = segments[k].astype(np.float64)
        p, q = seg[:2], seg[2:]
        d = (q - p) / max(float(np.linalg.norm(q - p)), 1e-9)
        normal = np.array([-d[1], d[0]])
        for i, line in enumerate(merged):
            a, b = line[:2], line[2:]
            ld = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
            if abs(float(np.dot(ld, d))) < MERGE_COS:
                continue
            ln = np.array([-ld[1], ld[0]])
            if abs(float(np.dot(p - a, ln))) > MERGE_DIST_PX or abs(float(np.dot(q - a, ln))) > MERGE_DIST_PX:
                continue
            ts = [0.0, float(np.dot(b - a, ld)), float(np.dot(p - a, ld)), float(np.dot(q - a, ld))]
            merged[i] = np.concatenate([a + min(ts) * ld, a + max(ts) * ld])
            break
        else:
            merged.append(np.concatenate([p, q]))
            _ = normal
        if len(merged) >= 3 * max_lines:
            break
    result = np.array(merged) if merged else np.zeros((0, 4))
    lengths = np.hypot(result[:, 2] - result[:, 0], result[:, 3] - result[:, 1])
    return result[np.argsort(lengths)[::-1][:max_lines]]


def _quads_from_lines(grey: np.ndarray, min_side: float) -> list[np.ndarray]:
    """Quads from pairs of near-horizontal and pairs of near-vertical straight edges (LSD line segments
    on a half-size copy): finds a card whose outline is joined to a hand, a thumb or the background,
    where contours fail. Returns quads in ``grey``'s pixels."""
    half = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
    raw = cv2.createLineSegmentDetector(cv2.LSD_REFINE_NONE).detect(half)[0]
    if raw is None:
        return []
    segments = raw.reshape(-1, 4).astype(np.float64) * 2.0
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    segments = segments[lengths >= MIN_LINE_FRACTION * min_side]
    angle = np.degrees(np.arctan2(segments[:, 3] - segments[:, 1], segments[:, 2] - segments[:, 0]))
    angle = (angle + 90.0) % 180.0 - 90.0  # (-90, 90]
    horizontal = _merge_lines(segments[np.abs(angle) <= LINE_ANGLE_DEG], MAX_LINES)
    vertical = _merge_lines(segments[np.abs(angle) >= 90.0 - LINE_ANGLE_DEG], MAX_LINES)
    # Orient: horizontals left->right, verticals top->bottom.
    horizontal = np.array([s if s[0] <= s[2] else s[[2, 3, 0, 1]] for s in horizontal]).reshape(-1, 4)
    vertical = np.array([s if s[1] <= s[3] else s[[2, 3, 0, 1]] for s in vertical]).reshape(-1, 4)
    quads: list[np.ndarray] = []
    # Two opposite sides alone (the other two hidden or too faint): their end points are the corners
    # up to the rounded corners and a thumb; refinement snaps the quad onto the real outline.
    for lines in (horizontal, vertical):
        for i, j in itertools.combinations(range(len(lines)), 2):
            a, b = lines[i], lines[j]
            quads.append(np.array([a[:2], a[2:], b[2:], b[:2]], dtype=np.float32))
    if len(horizontal) < 2 or len(vertical) < 2:
        return quads
    # Every horizontal line meets every vertical one once: precompute where, and whether that point lies
    # near both visible segments; a quad then needs its 4 meeting points valid.
    meet = np.zeros((len(horizontal), len(vertical), 2))
    valid = np.zeros((len(horizontal), len(vertical)), dtype=bool)
    for h_index, h_line in enumerate(horizontal):
        for v_index, v_line in enumerate(vertical):
            point = _line_intersection(h_line.reshape(2, 2), v_line.reshape(2, 2))
            if point is not None and _near_segment(point, h_line) and _near_segment(point, v_line):
                meet[h_index, v_index] = point
                valid[h_index, v_index] = True
    h_mid = (horizontal[:, 1] + horizontal[:, 3]) / 2
    v_mid = (vertical[:, 0] + vertical[:, 2]) / 2
    for i, j in itertools.combinations(range(len(horizontal)), 2):
        top, bottom = (i, j) if h_mid[i] <= h_mid[j] else (j, i)
        if h_mid[bottom] - h_mid[top] < 0.5 * min_side:
            continue
        for k, m in itertools.combinations(range(len(vertical)), 2):
            left, right = (k, m) if v_mid[k] <= v_mid[m] else (m, k)
            if v_mid[right] - v_mid[left] < min_side:
                continue
            if valid[top, left] and valid[top, right] and valid[bottom, right] and valid[bottom, left]:
                quads.append(
                    np.array(
                        [meet[top, left], meet[top, right], meet[bottom, right], meet[bottom, left]], dtype=np.float32
                    )
                )
    return quads


def _near_segment(point: np.ndarray, segment: np.ndarray) -> bool:
    """Whether ``point`` lies on the segment's line within LINE_REACH of its length beyond either end."""
    a, b = segment[:2], segment[2:]
    length = float(np.linalg.norm(b - a))
    t = float(np.dot(point - a, b - a)) / max(length * length, 1e-9)
    return -LINE_REACH <= t <= 1.0 + LINE_REACH


def _line_intersection(s1: np.ndarray, s2: np.ndarray) -> np.ndarray | None:
    """Intersection of the infinite lines through segments s1, s2 (each (2, 2))."""
    d1, d2 = s1[1] - s1[0], s2[1] - s2[0]
    denom = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(denom) < 1e-6 * float(np.linalg.norm(d1) * np.linalg.norm(d2)) + 1e-9:
        return None
    diff = s2[0] - s1[0]
    t = (diff[0] * d2[1] - diff[1] * d2[0]) / denom
    return s1[0] + t * d1


def _quads_from_segments(contour: np.ndarray, extent: int) -> list[np.ndarray]:
    """Quads whose sides lie on the longest straight runs of ``contour``: a card edge joined by a crossing
    line or a hand still has its four sides as long straight runs, even when the hull does not."""
    poly = cv2.approxPolyDP(contour, SEGMENT_EPS_PX, True).reshape(-1, 2).astype(np.float32)
    if len(poly) < 4:
        return []
    segments = np.stack([poly, np.roll(poly, -1, axis=0)], axis=1)
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    keep = np.argsort(lengths)[::-1][:MAX_SEGMENTS]
    keep = keep[lengths[keep] >= MIN_SEGMENT_FRACTION * extent]
    if len(keep) < 4:
        return []
    quads = []
    for combo in itertools.combinations(keep, 4):
        segs = segments[list(combo)]
        mids = segs.mean(axis=1)
        centre = mids.mean(axis=0)
        order = np.argsort(np.arctan2(mids[:, 1] - centre[1], mids[:, 0] - centre[0]))
        segs = segs[order]
        corners = [_line_intersection(segs[i - 1], segs[i]) for i in range(4)]
        if any(c is None for c in corners):
            continue
        quad = np.array(corners, dtype=np.float32)
        if np.abs(quad - centre).max() > extent:  # a corner far outside the contour: not this card
            continue
        quads.append(quad)
    return quads


def _rank(candidate: Candidate) -> tuple[float, float]:
    return -candidate.confidence, -float(cv2.contourArea(candidate.corners_px))


def _select(candidates: list[Candidate]) -> Candidate | None:
    """The most confident candidate, except that a document holds rectangles of its own (the portrait,
    a text block): a credible quad containing the best one is the document, the best one a part of it."""
    if not candidates:
        return None
    ranked = sorted(candidates, key=_rank)
    best = ranked[0]
    for other in ranked[1:]:
        if other.confidence >= best.confidence - CONTAINER_MARGIN and _contains(other.corners_px, best):
            best = other
    return best


def _contains(outer: np.ndarray, inner: Candidate) -> bool:
    """Whether quad ``outer`` holds ``inner`` (every corner inside or within 3 % of its width of it)."""
    contour = outer.reshape(4, 1, 2).astype(np.float32)
    slack = -0.03 * float(np.linalg.norm(outer[1] - outer[0]))
    inside = all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= slack for x, y in inner.corners_px)
    return inside and cv2.contourArea(contour) > 1.3 * cv2.contourArea(inner.corners_px)


def _dedupe(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Drop near-duplicate quads (all corners within ~2 work px), keeping the first."""
    seen: set[tuple[int, ...]] = set()
    unique = []
    for quad in quads:
        key = tuple(sorted((int(x) // 3, int(y) // 3) for x, y in quad))
        flat = tuple(v for pair in key for v in pair)
        if flat not in seen:
            seen.add(flat)
            unique.append(quad)
    return unique


@dataclass(frozen=True)
class _Work:
    """The downscaled frame and its gradients, computed once per frame."""

    scale: float
    small: np.ndarray
    grey: np.ndarray
    grad_x: np.ndarray
    grad_y: np.ndarray
    magnitude: np.ndarray
    camera: CameraModel


class DocumentLocator:
    """Finds the document in frames. Stateless between calls (tracking goes through ``hint``), so one
    instance may serve one session's worker thread; it holds only its settings."""

    def __init__(self, hfov_deg: float = DEFAULT_HFOV_DEG, work_width_px: int = WORK_WIDTH_PX) -> None:
        self.hfov_deg = hfov_deg
        self.work_width_px = work_width_px

    def _prepare(self, image: np.ndarray) -> _Work:
        h, w = image.shape[:2]
        factor = max(1, math.ceil(w / self.work_width_px))  # integer: INTER_AREA's fast path
        scale = 1.0 / factor
        small = image if factor == 1 else cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        grad_x = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        grad_y = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = cv2.magnitude(grad_x, grad_y)
        return _Work(scale, small, grey, grad_x, grad_y, magnitude, CameraModel(sw, sh, self.hfov_deg))

    def _score(self, work: _Work, quad: np.ndarray) -> Candidate | None:
        """Score one quad given in work pixels; None when it is not a credible document."""
        ordered = order_corners(quad)
        if not _is_landscape(ordered) or not _interior_angles_ok(ordered):
            return None
        if not cv2.isContourConvex(ordered.reshape(4, 1, 2)):
            return None
        kind_err = _best_kind(ordered, work.camera)
        if kind_err is None or kind_err[1] > MAX_ASPECT_LOG_ERROR:
            return None
        support = _side_support(work.grad_x, work.grad_y, ordered)
        if float(support.min()) < MIN_SIDE_SUPPORT or float(support.mean()) < MIN_MEAN_SUPPORT:
            return None
        texture = _interior_texture(work.magnitude, ordered)
        if texture < MIN_TEXTURE:
            return None
        width_fraction = float(np.linalg.norm(ordered[1] - ordered[0])) / work.grey.shape[1]
        outside = _outside_texture(work.magnitude, ordered)
        return Candidate(
            ordered / work.scale,
            kind_err[0],
            float(support.mean()),
            float(support.min()),
            kind_err[1],
            texture,
            width_fraction,
            outside,
        )

    def candidates(self, image: np.ndarray) -> list[Candidate]:
        """All credible candidates of a full search, best first, in full-resolution pixels (unrefined)."""
        return self._search(self._prepare(image))

    def _search(self, work: _Work) -> list[Candidate]:
        sh, sw = work.grey.shape
        min_side = MIN_WIDTH_FRACTION * sw
        min_area = min_side * min_side / ASPECT[DocumentKind.ID1]
        max_area = 0.98 * sw * sh
        kernel = np.ones((3, 3), np.uint8)
        quads: list[np.ndarray] = []
        sat = cv2.GaussianBlur(cv2.cvtColor(work.small, cv2.COLOR_BGR2HSV)[:, :, 1], (5, 5), 0)
        for channel, (lo, hi) in ((work.grey, (15, 45)), (work.grey, (40, 120)), (sat, (20, 60))):
            canny = cv2.Canny(channel, lo, hi)
            quads.extend(_quads_from_edges(cv2.dilate(canny, kernel), min_area, max_area))
        quads.extend(_quads_from_lines(work.grey, min_side))
        results = [c for c in (self._score(work, q) for q in _dedupe(quads)) if c is not None]
        best = _select(results)
        return [] if best is None else [best, *sorted((c for c in results if c is not best), key=_rank)]

    def locate(self, image: np.ndarray, hint: np.ndarray | None = None, verify: bool = False) -> DocumentView | None:
        """The document in ``image`` (BGR uint8 (H, W, 3)), or None when there is no credible one.

        ``hint``: the previous frame's corners (4, 2). When the document is still there (it snaps to the
        edges near the hint with confidence >= :data:`TRACK_CONFIDENCE`) the full search is skipped,
        unless ``verify`` asks for it (the tracked quad then competes with the search's candidates)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 32 or image.shape[1] < 32:
            return None
        work = self._prepare(image)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        band = REFINE_BAND_WORK_PX / work.scale
        tracked: Candidate | None = None
        if hint is not None and np.all(np.isfinite(hint)):
            snapped = refine_corners(grey, np.asarray(hint, dtype=np.float32).reshape(4, 2), 3 * band)
            snapped = refine_corners(grey, snapped, band)
            tracked = self._score(work, snapped * work.scale)
        if tracked is not None and tracked.confidence >= TRACK_CONFIDENCE and not verify:
            best = tracked
        else:
            refined: list[Candidate] = [] if tracked is None else [tracked]
            for candidate in self._search(work)[:REFINED_CANDIDATES]:
                # A narrow first pass keeps a good quad on its edges; a wide one catches a quad built
                # from line ends (rounded corners, a thumb); both compete on their scores.
                for first_band in (2 * band, 5 * band):
                    corners = refine_corners(grey, candidate.corners_px, first_band)
                    corners = refine_corners(grey, corners, band)
                    rescored = self._score(work, corners * work.scale)
                    if rescored is not None:
                        refined.append(rescored)
            chosen = _select(refined)
            if chosen is None or chosen.confidence < MIN_CONFIDENCE:
                return None
            best = chosen
        kind = best.kind
        side, corners = classify_side(image, best.corners_px, kind)
        rectified = rectify(image, corners, kind)
        pose = estimate_pose(corners, kind, CameraModel.for_image(image, self.hfov_deg))
        return DocumentView(
            corners_px=corners.astype(np.float32),
            rectified=rectified,
            kind=kind,
            side=side,
            yaw_deg=None if pose is None else pose.yaw_deg,
            pitch_deg=None if pose is None else pose.pitch_deg,
            confidence=best.confidence,
        )


def _fit_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Total-least-squares line through points (N, 2): (point, unit direction), refit without outliers."""
    if len(points) < 6:
        return None
    for _ in range(3):
        centre = points.mean(axis=0)
        _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
        direction = vt[0]
        normal = np.array([-direction[1], direction[0]])
        residual = np.abs((points - centre) @ normal)
        keep = residual <= max(REFINE_INLIER_PX, 2.5 * float(np.median(residual)))
        if keep.all() or keep.sum() < 6:
            break
        points = points[keep]
    return centre, direction


def _intersect(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    matrix = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
    if abs(np.linalg.det(matrix)) < 1e-6:
        return None
    s, _ = np.linalg.solve(matrix, p2 - p1)
    return p1 + s * d1


def refine_corners(grey: np.ndarray, corners_px: np.ndarray, band_px: float) -> np.ndarray:
    """Snap each side of the quad (4, 2) to the strongest edge within ``band_px`` of it, at full resolution.

    Along each side, the grey profile across the side is sampled; the sub-pixel position of the largest
    gradient of the side's dominant polarity is taken, and a line is fitted robustly. Sides with too few
    good points keep their coarse position. Returns the intersections of the four lines (4, 2) float32.
    """
    h, w = grey.shape
    quad = np.asarray(corners_px, dtype=np.float64)
    band = max(2.0, band_px)
    offsets = np.arange(-band, band + 0.5, 0.5)
    t = 0.06 + 0.88 * (np.arange(SIDE_SAMPLES) + 0.5) / SIDE_SAMPLES
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        direction = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        normal = np.array([-direction[1], direction[0]])
        base = a[None, :] + t[:, None] * (b - a)[None, :]
        grid = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
        map_x = grid[:, :, 0].astype(np.float32)
        map_y = grid[:, :, 1].astype(np.float32)
        profile = cv2.remap(grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        deriv = np.diff(profile, axis=1)
        polarity = 1.0 if float(np.sum(deriv.clip(min=0))) >= float(np.sum((-deriv).clip(min=0))) else -1.0
        # Nearer edges are preferred (an inner print line must not beat a weaker card edge).
        signed = deriv * polarity * (1.0 - 0.5 * np.abs(offsets[:-1] + 0.25) / band)[None, :]
        idx = np.argmax(signed, axis=1)
        strength = signed[np.arange(len(idx)), idx]
        good = (strength >= MIN_EDGE_GRADIENT / 8.0) & (idx > 0) & (idx < deriv.shape[1] - 1)
        good &= (base[:, 0] >= 1) & (base[:, 0] < w - 1) & (base[:, 1] >= 1) & (base[:, 1] < h - 1)
        rows = np.nonzero(good)[0]
        if len(rows) < 6:
            lines.append((a, direction))
            continue
        left = signed[rows, idx[rows] - 1]
        mid = signed[rows, idx[rows]]
        right = signed[rows, idx[rows] + 1]
        denom = left - 2 * mid + right
        sub = np.where(np.abs(denom) > 1e-6, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
        # deriv[k] sits between offsets[k] and offsets[k+1].
        pos = offsets[0] + (idx[rows] + 0.5 + np.clip(sub, -0.5, 0.5)) * 0.5
        pts = base[rows] + pos[:, None] * normal[None, :]
        fitted = _fit_line(pts)
        lines.append(fitted if fitted is not None else (a, direction))
    refined = []
    for i in range(4):
        p = _intersect(lines[i - 1][0], lines[i - 1][1], lines[i][0], lines[i][1])
        if p is None or np.linalg.norm(p - quad[i]) > 3 * band:
            refined.append(quad[i])
        else:
            refined.append(p)
    return np.asarray(refined, dtype=np.float32)


# --- which side is shown ----------------------------------------------------------------------------

#: Side classification of ID-1 cards: the TD1 MRZ (3 full-width lines of OCR-B) sits in the bottom third
#: of the back; on the front that band holds short fields, the portrait's foot and the hologram. The
#: score is the fraction of the MRZ zone's columns that carry dark strokes, averaged over the 3 lines.
#: Measured on fixture renders: backs 0.80-0.98, fronts 0.25-0.55.
MRZ_COVERAGE_BACK = 0.72
MRZ_COVERAGE_FRONT = 0.6
#: Upside down: only when the bottom band is nearly empty and the top band is full of text lines.
MRZ_COVERAGE_UPRIGHT_EMPTY = 0.45
MRZ_COVERAGE_FLIPPED = 0.85


def mrz_coverage(band_bgr: np.ndarray, kind: DocumentKind) -> float:
    """Fraction (0..1) of the MRZ band's columns with text strokes, per MRZ line, averaged.

    ``band_bgr``: the MRZ zone of :mod:`pipelines.layouts` cut from a rectified document (any scale)."""
    band = cv2.cvtColor(band_bgr, cv2.COLOR_BGR2GRAY)
    if band.size == 0:
        return 0.0
    layout = layout_for("passport" if kind is DocumentKind.TD3 else "nl-id")
    width = band.shape[1] / layout.zones[ZoneName.MRZ].w_mm * DOCUMENT_SIZE_MM[kind][0]  # whole card, px
    stroke = max(3, int(round(width / DOCUMENT_SIZE_MM[kind][0] * 1.2)))  # ~1.2 mm: wider than a stroke
    blackhat = cv2.morphologyEx(band, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (stroke, stroke)))
    _, ink = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(blackhat.max()) < 25:  # no contrast at all: no text
        return 0.0
    lines = layout.mrz_shape[0]
    gap = max(1, int(round(width / DOCUMENT_SIZE_MM[kind][0] * 2.54)))  # one character pitch
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    coverages = []
    for k in range(lines):
        rows = closed[k * closed.shape[0] // lines : (k + 1) * closed.shape[0] // lines]
        coverages.append(float(np.mean(rows.max(axis=0) > 0)))
    return float(np.mean(coverages))


def classify_side(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> tuple[DocumentSide, np.ndarray]:
    """The side shown, and the corners re-ordered if the document is upside down (its MRZ at the top).

    A TD3 data page is always the front. An ID-1 card is the back when its MRZ band is covered with text,
    the front when clearly not, else unknown."""
    if kind is DocumentKind.TD3:
        return DocumentSide.FRONT, corners_px
    coverage = mrz_coverage(_mrz_band(image, corners_px, kind), kind)
    if coverage >= MRZ_COVERAGE_BACK:
        return DocumentSide.BACK, corners_px
    flipped = np.roll(corners_px, 2, axis=0)
    if coverage <= MRZ_COVERAGE_UPRIGHT_EMPTY and mrz_coverage(_mrz_band(image, flipped, kind), kind) >= (
        MRZ_COVERAGE_FLIPPED
    ):
        return DocumentSide.BACK, flipped
    if coverage <= MRZ_COVERAGE_FRONT:
        return DocumentSide.FRONT, corners_px
    return DocumentSide.UNKNOWN, corners_px


def _mrz_band(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> np.ndarray:
    """The MRZ zone (TD1 back / TD3 front layout) warped flat at 5 px/mm: BGR uint8."""
    layout = layout_for("passport" if kind is DocumentKind.TD3 else "nl-id")
    zone = layout.zones[ZoneName.MRZ]
    scale = 5.0  # px per mm: an MRZ character ~12 px high, enough to see strokes
    doc_w, doc_h = DOCUMENT_SIZE_MM[kind]
    src = np.asarray(corners_px, dtype=np.float32)
    dst = np.array([[0, 0], [doc_w, 0], [doc_w, doc_h], [0, doc_h]], dtype=np.float32) * scale
    dst -= np.array([zone.x_mm, zone.y_mm], dtype=np.float32) * scale
    matrix = cv2.getPerspectiveTransform(src, dst)
    size = (int(round(zone.w_mm * scale)), int(round(zone.h_mm * scale)))
    return cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
