"""Candidate quadrilaterals for the document locator, and the sub-pixel refinement of a quad's sides.

Used by :mod:`pipelines.document` (which scores and chooses among the candidates). All functions are
pure: BGR/grey uint8 images and float32 (x, y) pixel points in, quads (4, 2) float32 out.

* :func:`quads_from_edges`: contours of an edge map, their convex hull simplified to four vertices
  (or every 4-subset of a 5-6-vertex hull: a finger adds vertices), or four of their longest straight runs.
* :func:`quads_from_lines`: LSD line segments grouped into near-horizontal and near-vertical lines; pairs of
  each make a quad, and two opposite sides alone make one from their end points (a card whose outline is
  joined to a hand or a thumb, where contours fail).
* :func:`refine_corners`: each side snapped to the strongest nearby edge and fitted robustly.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    "MIN_EDGE_GRADIENT",
    "SIDE_SAMPLES",
    "quads_from_edges",
    "quads_from_lines",
    "line_quads",
    "LineQuads",
    "refine_corners",
    "refine_many",
    "intersect",
]

#: Edge support: a side point counts when the gradient across the side is at least this strong (Sobel
#: 3x3 on 0..255 grey, gain 8 for a unit step: a 6-level step). Real card edges in the fixture scenes and
#: the passporteye specimens measure 60-400.
MIN_EDGE_GRADIENT = 24.0
#: Points sampled along each side for the support score and for refinement.
SIDE_SAMPLES = 40
#: A contour hull simplified to 5..this many vertices is tried as every 4-vertex subset (at most 15).
MAX_HULL_VERTICES = 6
#: ... and a subset must keep this much of the hull's area (a finger adds a little, it does not halve it).
MIN_SUBSET_AREA_FRACTION = 0.6
#: Straight runs of a contour: polygon tolerance (work px), how many of the longest runs are combined
#: four at a time (at most 15 quads per contour), and the shortest run considered (fraction of the
#: contour's bounding box).
SEGMENT_EPS_PX = 2.0
MAX_SEGMENTS = 6
#: ... tried on at most this many contours per edge map (the largest first).
MAX_SEGMENT_CONTOURS = 4
MIN_SEGMENT_FRACTION = 0.2
#: LSD lines: near-horizontal / near-vertical means within this angle (a card with +-30 deg of roll
#: and perspective still has its sides inside); at most MAX_LINES merged lines per direction (<= 45 x 45
#: pairs in theory, far fewer pass the geometric tests); collinear pieces merge within MERGE_DIST_PX and
#: about 3 deg; a corner may lie beyond a side's visible segment by LINE_REACH of its length (a thumb,
#: the hand behind the card or the rounded corner hides the end). 2.0, not 0.6: the de-id back of the
#: speed scene (720p, seed 11) shows only the lowest third of its right edge beside the palm (the corner
#: lies 1.9 lengths beyond it); with 0.6 none of its 12 sampled frames was found one-shot, with 2.0 seven
#: were (corner error ~1 px), and the quick accuracy scenes went from 98.3 / 97.7 % (480p / 720p) to 100 %
#: found. It costs more candidates: a 480p full search 41 -> 65 ms under load.
LINE_ANGLE_DEG = 35.0
MAX_LINES = 10
#: Shortest LSD segment used, as a fraction of the smallest card side searched for.
MIN_LINE_FRACTION = 0.3
MERGE_DIST_PX = 3.0
MERGE_COS = 0.9986
LINE_REACH = 2.0
#: Two opposite sides whose ends differ by more than this (work px) also give a quad cut to their common
#: extent (a card side continued by the straight edge of the hand behind it: fixture nl-id back, 720p).
CLIP_MIN_PX = 6.0
#: Refinement: a refined side point further than this (full-res px) from the fitted line is an outlier.
REFINE_INLIER_PX = 1.5


def quads_from_edges(edges: np.ndarray, min_area: float, max_area: float) -> list[np.ndarray]:
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads: list[np.ndarray] = []
    segment_budget = MAX_SEGMENT_CONTOURS
    # Contours too small to hold the card are dropped before anything else (most of an edge map's).
    boxes = [(cv2.boundingRect(c), c) for c in contours if len(c) >= 4]
    boxes = sorted(((r, c) for r, c in boxes if r[2] * r[3] >= min_area), key=lambda rc: -rc[0][2] * rc[0][3])
    for (_, _, cw, ch), contour in boxes:
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
    capacity = 3 * max_lines
    starts = np.zeros((capacity, 2))  # each merged line: start point, end point, unit direction, normal
    ends = np.zeros((capacity, 2))
    dirs = np.zeros((capacity, 2))
    normals = np.zeros((capacity, 2))
    count = 0
    for k in np.argsort(lengths)[::-1]:
        seg = segments[k].astype(np.float64)
        p, q = seg[:2], seg[2:]
        d = (q - p) / max(float(np.linalg.norm(q - p)), 1e-9)
        if count:
            a, ld, ln = starts[:count], dirs[:count], normals[:count]
            near = (np.abs(ld @ d) >= MERGE_COS) & (np.abs(np.sum((p - a) * ln, axis=1)) <= MERGE_DIST_PX)
            near &= np.abs(np.sum((q - a) * ln, axis=1)) <= MERGE_DIST_PX
            hits = np.flatnonzero(near)
            if len(hits):
                i = int(hits[0])
                a_i, ld_i = starts[i].copy(), dirs[i]
                ts = [float(np.dot(point - a_i, ld_i)) for point in (a_i, ends[i], p, q)]
                starts[i], ends[i] = a_i + min(ts) * ld_i, a_i + max(ts) * ld_i
                continue
        starts[count], ends[count], dirs[count], normals[count] = p, q, d, (-d[1], d[0])
        count += 1
        if count >= capacity:
            break
    result = np.concatenate([starts[:count], ends[:count]], axis=1)
    lengths = np.hypot(result[:, 2] - result[:, 0], result[:, 3] - result[:, 1])
    return result[np.argsort(lengths)[::-1][:max_lines]]


class LineQuads(NamedTuple):
    """Quads from LSD lines (work px): ``two_sides`` from two opposite lines alone (their end points,
    or cut to their common extent), ``four_sides`` from two horizontal and two vertical lines."""

    two_sides: list[np.ndarray]
    four_sides: list[np.ndarray]


def quads_from_lines(grey: np.ndarray, min_side: float) -> list[np.ndarray]:
    """Quads from pairs of near-horizontal and pairs of near-vertical straight edges (LSD line segments
    on a half-size copy): finds a card whose outline is joined to a hand, a thumb or the background,
    where contours fail. Returns quads in ``grey``'s pixels (those of :func:`line_quads`, both kinds)."""
    found = line_quads(grey, min_side)
    return found.two_sides + found.four_sides


def line_quads(grey: np.ndarray, min_side: float) -> LineQuads:
    """:func:`quads_from_lines`, the two kinds apart."""
    half = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
    raw = cv2.createLineSegmentDetector(cv2.LSD_REFINE_NONE).detect(half)[0]
    if raw is None:
        return LineQuads([], [])
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
    for axis, lines in ((0, horizontal), (1, vertical)):
        for i, j in itertools.combinations(range(len(lines)), 2):
            a, b = lines[i], lines[j]
            quads.append(np.array([a[:2], a[2:], b[2:], b[:2]], dtype=np.float32))
            # One side may run on into the hand or the arm beyond the card's corner (the same straight
            # edge continues): both sides cut to their common extent give that corner instead.
            clipped = _clip_to_overlap(a, b, axis)
            if clipped is not None:
                quads.append(clipped)
    if len(horizontal) < 2 or len(vertical) < 2:
        return LineQuads(quads, [])
    # Every horizontal line meets every vertical one once: where, and whether that point lies near both
    # visible segments (all pairs at once); a quad then needs its 4 meeting points valid.
    meet, valid = _meeting_points(horizontal, vertical)
    h_mid = (horizontal[:, 1] + horizontal[:, 3]) / 2
    v_mid = (vertical[:, 0] + vertical[:, 2]) / 2
    h_pairs = np.array(list(itertools.combinations(range(len(horizontal)), 2)))
    v_pairs = np.array(list(itertools.combinations(range(len(vertical)), 2)))
    # Each pair as (top, bottom) and (left, right); pairs too close together are dropped.
    h_pairs = np.where((h_mid[h_pairs[:, 0]] <= h_mid[h_pairs[:, 1]])[:, None], h_pairs, h_pairs[:, ::-1])
    h_pairs = h_pairs[h_mid[h_pairs[:, 1]] - h_mid[h_pairs[:, 0]] >= 0.5 * min_side]
    v_pairs = np.where((v_mid[v_pairs[:, 0]] <= v_mid[v_pairs[:, 1]])[:, None], v_pairs, v_pairs[:, ::-1])
    v_pairs = v_pairs[v_mid[v_pairs[:, 1]] - v_mid[v_pairs[:, 0]] >= min_side]
    top, bottom = h_pairs[:, 0][:, None], h_pairs[:, 1][:, None]  # (P, 1) against (1, Q)
    left, right = v_pairs[:, 0][None, :], v_pairs[:, 1][None, :]
    ok = valid[top, left] & valid[top, right] & valid[bottom, right] & valid[bottom, left]  # (P, Q)
    p_index, q_index = np.nonzero(ok)  # row-major: the order of the pairs' nested loops
    t, b_, lf, rt = top[p_index, 0], bottom[p_index, 0], left[0, q_index], right[0, q_index]
    corners = np.stack([meet[t, lf], meet[t, rt], meet[b_, rt], meet[b_, lf]], axis=1).astype(np.float32)
    return LineQuads(quads, list(corners))


def _clip_to_overlap(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray | None:
    """The quad of two roughly parallel segments a, b (x1 y1 x2 y2, oriented along ``axis``: 0 = x for
    near-horizontal, 1 = y for near-vertical) cut to the range of ``axis`` both cover; None when that is
    what their end points give already (within CLIP_MIN_PX) or they do not overlap by half."""
    lo = max(a[axis], b[axis])
    hi = min(a[axis + 2], b[axis + 2])
    longest = max(a[axis + 2] - a[axis], b[axis + 2] - b[axis])
    if hi - lo < 0.5 * longest:
        return None
    if max(abs(a[axis] - b[axis]), abs(a[axis + 2] - b[axis + 2])) < CLIP_MIN_PX:
        return None

    def at(segment: np.ndarray, value: float) -> np.ndarray:
        p, q = segment[:2], segment[2:]
        span = q[axis] - p[axis]
        t = 0.0 if abs(span) < 1e-9 else (value - p[axis]) / span
        return p + t * (q - p)

    return np.array([at(a, lo), at(a, hi), at(b, hi), at(b, lo)], dtype=np.float32)


def _meeting_points(horizontal: np.ndarray, vertical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each horizontal segment's line (H, 4) meets each vertical one's (V, 4): points (H, V, 2), and
    (H, V) bool whether the point exists and lies within LINE_REACH of both segments
    (the line intersection of :func:`_line_intersection`; near: the point's projection on the segment at
    -LINE_REACH..1 + LINE_REACH of its length)."""
    p1, d1 = horizontal[:, None, :2], (horizontal[:, 2:] - horizontal[:, :2])[:, None, :]  # (H, 1, 2)
    p2, d2 = vertical[None, :, :2], (vertical[:, 2:] - vertical[:, :2])[None, :, :]  # (1, V, 2)
    denom = d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0]
    len1 = np.sqrt(d1[..., 0] * d1[..., 0] + d1[..., 1] * d1[..., 1])
    len2 = np.sqrt(d2[..., 0] * d2[..., 0] + d2[..., 1] * d2[..., 1])
    exists = np.abs(denom) >= 1e-6 * (len1 * len2) + 1e-9
    diff = p2 - p1
    t = (diff[..., 0] * d2[..., 1] - diff[..., 1] * d2[..., 0]) / np.where(exists, denom, 1.0)
    meet = p1 + t[..., None] * d1  # (H, V, 2)

    def near(start: np.ndarray, direction: np.ndarray, length: np.ndarray) -> np.ndarray:
        rel = meet - start
        u = (rel[..., 0] * direction[..., 0] + rel[..., 1] * direction[..., 1]) / np.maximum(length * length, 1e-9)
        return (u >= -LINE_REACH) & (u <= 1.0 + LINE_REACH)

    valid = exists & near(p1, d1, len1) & near(p2, d2, len2)
    return np.where(valid[..., None], meet, 0.0), valid


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


def _fit_lines(points: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total-least-squares lines through the ``good`` points of each row of ``points`` (M, S, 2), refit
    up to twice without outliers (residual > max(REFINE_INLIER_PX, 2.5 x median)). Returns each line's
    point (M, 2), unit direction (M, 2), and whether it was fitted (M,) (at least 6 good points)."""
    mask = good.copy()
    fitted = mask.sum(axis=1) >= 6
    active = fitted.copy()
    centres = np.zeros((len(points), 2))
    directions = np.zeros((len(points), 2))
    for _ in range(3):
        if not active.any():
            break
        rows = np.flatnonzero(active)
        pts, m = points[rows], mask[rows]
        count = m.sum(axis=1)
        centre = np.where(m[..., None], pts, 0.0).sum(axis=1) / count[:, None]
        d = np.where(m[..., None], pts - centre[:, None, :], 0.0)
        sxx = (d[..., 0] * d[..., 0]).sum(axis=1)
        syy = (d[..., 1] * d[..., 1]).sum(axis=1)
        sxy = (d[..., 0] * d[..., 1]).sum(axis=1)
        # The principal axis of the 2x2 scatter matrix, in closed form (what an SVD gives, up to sign).
        theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
        direction = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
        residual = np.abs(np.sum((pts - centre[:, None, :]) * normal[:, None, :], axis=2))
        ranked = np.sort(np.where(m, residual, np.inf), axis=1)
        lo = np.take_along_axis(ranked, ((count - 1) // 2)[:, None], axis=1)[:, 0]
        hi = np.take_along_axis(ranked, (count // 2)[:, None], axis=1)[:, 0]
        median = (lo + hi) / 2.0
        keep = m & (residual <= np.maximum(REFINE_INLIER_PX, 2.5 * median)[:, None])
        centres[rows], directions[rows] = centre, direction
        done = (keep.sum(axis=1) == count) | (keep.sum(axis=1) < 6)
        mask[rows] = np.where(done[:, None], m, keep)
        active[rows[done]] = False
    return centres, directions, fitted


def intersect(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    """Where the line through p1 along d1 meets the one through p2 along d2 (each (2,)); None if parallel."""
    det = d2[0] * d1[1] - d1[0] * d2[1]  # of [[d1x, -d2x], [d1y, -d2y]]
    if abs(det) < 1e-6:
        return None
    diff = p2 - p1
    s = (diff[1] * d2[0] - diff[0] * d2[1]) / det  # Cramer's rule for s in s * d1 - u * d2 = diff
    return p1 + s * d1


def refine_corners(grey: np.ndarray, corners_px: np.ndarray, band_px: float) -> np.ndarray:
    """Snap each side of the quad (4, 2) to the strongest edge within ``band_px`` of it, at full resolution.

    Along each side, the grey profile across the side is sampled; the sub-pixel position of the largest
    gradient of the side's dominant polarity is taken, and a line is fitted robustly. Sides with too few
    good points keep their coarse position. Returns the intersections of the four lines (4, 2) float32.
    """
    return refine_many(grey, np.asarray(corners_px).reshape(1, 4, 2), band_px)[0]


def refine_many(grey: np.ndarray, quads_px: np.ndarray, band_px: float) -> np.ndarray:
    """:func:`refine_corners` of several quads (N, 4, 2) at once (one ``remap`` for all their sides):
    (N, 4, 2) float32, each the same as :func:`refine_corners` gives for it alone."""
    h, w = grey.shape
    quad = np.asarray(quads_px, dtype=np.float64).reshape(-1, 4, 2)
    n = len(quad)
    if n == 0:
        return np.zeros((0, 4, 2), dtype=np.float32)
    band = max(2.0, band_px)
    offsets = np.arange(-band, band + 0.5, 0.5)
    t = 0.06 + 0.88 * (np.arange(SIDE_SAMPLES) + 0.5) / SIDE_SAMPLES
    # All sides of all quads at once: (N quads, 4 sides, S samples along, O offsets across).
    ends = np.roll(quad, -1, axis=1)
    directions = (ends - quad) / np.maximum(np.linalg.norm(ends - quad, axis=2), 1e-9)[..., None]
    normals = np.stack([-directions[..., 1], directions[..., 0]], axis=-1)
    base = quad[:, :, None, :] + t[None, None, :, None] * (ends - quad)[:, :, None, :]  # (N, 4, S, 2)
    grid = base[:, :, :, None, :] + offsets[None, None, None, :, None] * normals[:, :, None, None, :]
    map_x = grid[..., 0].reshape(n * 4 * SIDE_SAMPLES, -1).astype(np.float32)
    map_y = grid[..., 1].reshape(n * 4 * SIDE_SAMPLES, -1).astype(np.float32)
    profile = cv2.remap(grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    deriv = np.diff(profile.reshape(n, 4, SIDE_SAMPLES, -1), axis=3)  # (N, 4, S, O - 1)
    rising = deriv.clip(min=0).sum(axis=(2, 3))
    falling = (-deriv).clip(min=0).sum(axis=(2, 3))
    polarity = np.where(rising >= falling, 1.0, -1.0)  # (N, 4)
    # Nearer edges are preferred (an inner print line must not beat a weaker card edge).
    weight = (1.0 - 0.5 * np.abs(offsets[:-1] + 0.25) / band)[None, None, None, :]
    signed = deriv * polarity[:, :, None, None] * weight
    last = deriv.shape[3] - 1
    idx = np.argmax(signed, axis=3)  # (N, 4, S)
    strength = np.take_along_axis(signed, idx[..., None], axis=3)[..., 0]
    good = (strength >= MIN_EDGE_GRADIENT / 8.0) & (idx > 0) & (idx < last)
    good &= (base[..., 0] >= 1) & (base[..., 0] < w - 1) & (base[..., 1] >= 1) & (base[..., 1] < h - 1)
    left = np.take_along_axis(signed, np.clip(idx - 1, 0, None)[..., None], axis=3)[..., 0]
    right = np.take_along_axis(signed, np.clip(idx + 1, None, last)[..., None], axis=3)[..., 0]
    denom = left - 2 * strength + right
    sub = np.where(np.abs(denom) > 1e-6, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    # deriv[k] sits between offsets[k] and offsets[k+1].
    pos = offsets[0] + (idx + 0.5 + np.clip(sub, -0.5, 0.5)) * 0.5  # (N, 4, S)
    points = base + pos[..., None] * normals[:, :, None, :]
    centres, line_dirs, fitted = _fit_lines(points.reshape(n * 4, SIDE_SAMPLES, 2), good.reshape(n * 4, SIDE_SAMPLES))
    centres = np.where(fitted[:, None], centres, quad.reshape(-1, 2)).reshape(n, 4, 2)
    line_dirs = np.where(fitted[:, None], line_dirs, directions.reshape(-1, 2)).reshape(n, 4, 2)
    out = np.empty((n, 4, 2), dtype=np.float32)
    for q in range(n):
        for i in range(4):
            p = intersect(centres[q, i - 1], line_dirs[q, i - 1], centres[q, i], line_dirs[q, i])
            out[q, i] = quad[q, i] if p is None or np.linalg.norm(p - quad[q, i]) > 3 * band else p
    return out
