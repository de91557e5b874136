"""Vectorised geometry of many candidate quads at once, for the document locator's scoring.

Every function takes quads as float (N, 4, 2) arrays of (x, y) pixels and returns per-quad values, so a
full search scores its 100-300 candidates with a few numpy operations instead of a Python loop each.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "order_corners_many",
    "plausible_many",
    "metric_aspects_many",
    "side_support_many",
    "interior_texture_many",
    "outside_texture_many",
    "margin_grey_many",
    "side_margin_grey_many",
    "dedupe_many",
]


def order_corners_many(quads: np.ndarray) -> np.ndarray:
    """Each quad's points ordered TL, TR, BR, BL (clockwise on screen from the top-left), (N, 4, 2)
    float32; see :func:`pipelines.document.order_corners`."""
    pts = np.asarray(quads, dtype=np.float32).reshape(-1, 4, 2)
    centre = pts.mean(axis=1, keepdims=True)
    angle = np.arctan2(pts[..., 1] - centre[..., 1], pts[..., 0] - centre[..., 0])
    pts = np.take_along_axis(pts, np.argsort(angle, axis=1)[..., None], axis=1)
    start = np.argmin(pts[..., 0] + pts[..., 1], axis=1)
    index = (np.arange(4)[None, :] + start[:, None]) % 4
    return np.take_along_axis(pts, index[..., None], axis=1)


def plausible_many(ordered: np.ndarray, min_interior_angle_deg: float) -> np.ndarray:
    """bool (N,): landscape (the TL-TR and BR-BL sides are the long ones), strictly convex, and every
    interior angle within [min, 180 - min] deg. ``ordered``: (N, 4, 2) from :func:`order_corners_many`."""
    side = np.roll(ordered, -1, axis=1) - ordered  # (N, 4, 2): TL->TR, TR->BR, BR->BL, BL->TL
    length = np.linalg.norm(side, axis=2)
    landscape = length[:, 0] + length[:, 2] > length[:, 1] + length[:, 3]
    prev = np.roll(ordered, 1, axis=1) - ordered
    nxt = side
    norms = np.linalg.norm(prev, axis=2) * np.linalg.norm(nxt, axis=2)
    safe = np.where(norms < 1e-6, 1.0, norms)
    cosines = np.sum(prev * nxt, axis=2) / safe
    limit = math.cos(math.radians(min_interior_angle_deg))
    angles_ok = np.all(np.abs(cosines) <= limit, axis=1) & np.all(norms >= 1e-6, axis=1)
    cross = side[:, :, 0] * np.roll(side, -1, axis=1)[:, :, 1] - side[:, :, 1] * np.roll(side, -1, axis=1)[:, :, 0]
    convex = np.all(cross > 0, axis=1) | np.all(cross < 0, axis=1)
    return np.asarray(landscape & angles_ok & convex)


def metric_aspects_many(ordered: np.ndarray, camera_matrix: np.ndarray) -> np.ndarray:
    """Width / height (N,) of the physical rectangle each quad shows, perspective removed with the
    intrinsic matrix K (3, 3); NaN when degenerate. The same value as :func:`pipelines.tilt.metric_aspect`:
    the homography of the unit square onto the quad (closed form, Heckbert 1989), columns through K^-1."""
    q = np.asarray(ordered, dtype=np.float64)
    x0, x1, x2, x3 = (q[:, k, 0] for k in range(4))
    y0, y1, y2, y3 = (q[:, k, 1] for k in range(4))
    dx1, dx2, dx3 = x1 - x2, x3 - x2, x0 - x1 + x2 - x3
    dy1, dy2, dy3 = y1 - y2, y3 - y2, y0 - y1 + y2 - y3
    den = dx1 * dy2 - dx2 * dy1
    den = np.where(np.abs(den) < 1e-12, np.nan, den)
    g = (dx3 * dy2 - dx2 * dy3) / den
    h = (dx1 * dy3 - dx3 * dy1) / den
    col_u = np.stack([x1 - x0 + g * x1, y1 - y0 + g * y1, g], axis=1)  # (N, 3)
    col_v = np.stack([x3 - x0 + h * x3, y3 - y0 + h * y3, h], axis=1)
    k_inv = np.linalg.inv(camera_matrix)
    norm_u = np.linalg.norm(col_u @ k_inv.T, axis=1)
    norm_v = np.linalg.norm(col_v @ k_inv.T, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm_v > 1e-12, norm_u / norm_v, np.nan)


def side_support_many(
    grad_x: np.ndarray, grad_y: np.ndarray, ordered: np.ndarray, samples: int, min_gradient: float
) -> np.ndarray:
    """Per quad and side (N, 4): the fraction of ``samples`` points along the side (inner 92 %) where the
    gradient across the side, the strongest within +-1 px of it, reaches ``min_gradient``. ``grad_x``,
    ``grad_y``: float32 (H, W) Sobel gradients of the image the quads are in."""
    h, w = grad_x.shape
    quad = np.asarray(ordered, dtype=np.float32)
    direction = np.roll(quad, -1, axis=1) - quad  # (N, 4, 2)
    length = np.linalg.norm(direction, axis=2)
    normal = np.stack([-direction[..., 1], direction[..., 0]], axis=2) / np.maximum(length, 1e-3)[..., None]
    t = (0.04 + 0.92 * (np.arange(samples, dtype=np.float32) + 0.5) / samples)[None, None, :, None]
    pts = quad[:, :, None, :] + t * direction[:, :, None, :]  # (N, 4, S, 2)
    offsets = np.array([-1.0, 0.0, 1.0], dtype=np.float32)[None, None, None, :, None]
    probe = pts[:, :, :, None, :] + offsets * normal[:, :, None, None, :]  # (N, 4, S, 3, 2)
    xs = np.clip(np.rint(probe[..., 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(probe[..., 1]).astype(np.int32), 0, h - 1)
    nx = normal[:, :, None, None, 0]
    ny = normal[:, :, None, None, 1]
    across = np.abs(grad_x[ys, xs] * nx + grad_y[ys, xs] * ny)
    best = across.max(axis=3)  # (N, 4, S)
    inside = (pts[..., 0] >= 0) & (pts[..., 0] < w) & (pts[..., 1] >= 0) & (pts[..., 1] < h)
    support = np.mean((best >= min_gradient) & inside, axis=2).astype(np.float32)
    return _zero_degenerate(support, length)


def _zero_degenerate(support: np.ndarray, length: np.ndarray) -> np.ndarray:
    """A quad with a side shorter than 1e-3 px has no support at all (as the single-quad version)."""
    degenerate = length.min(axis=1) < 1e-3
    support[degenerate] = 0.0
    return support


def _dilated_lookup(
    magnitude: np.ndarray, xs: np.ndarray, ys: np.ndarray, steps: tuple[tuple[int, int], ...]
) -> np.ndarray:
    """The largest ``magnitude`` at (xs, ys) and at the neighbours shifted by ``steps`` (clipped)."""
    h, w = magnitude.shape
    best = magnitude[ys, xs]
    for dx, dy in steps:
        best = np.maximum(best, magnitude[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)])
    return best


def interior_texture_many(magnitude: np.ndarray, ordered: np.ndarray, min_gradient: float) -> np.ndarray:
    """Per quad (N,): the fraction of a 16x10 grid over its interior (inset 12 %) where the gradient
    ``magnitude`` (float32 (H, W)), the largest of the point and its right, lower and lower-right
    neighbours, reaches ``min_gradient``. ``ordered``: (N, 4, 2) TL TR BR BL in the magnitude's pixels."""
    h, w = magnitude.shape
    q = np.asarray(ordered, dtype=np.float32)
    uu, vv = np.meshgrid(np.linspace(0.12, 0.88, 16), np.linspace(0.12, 0.88, 10))
    uu, vv = uu[None, ..., None], vv[None, ..., None]  # (1, 10, 16, 1)
    top = q[:, None, None, 0, :] * (1 - uu) + q[:, None, None, 1, :] * uu  # (N, 10, 16, 2)
    bottom = q[:, None, None, 3, :] * (1 - uu) + q[:, None, None, 2, :] * uu
    pts = (top * (1 - vv) + bottom * vv).reshape(len(q), 160, 2)
    xs = np.clip(np.rint(pts[..., 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(pts[..., 1]).astype(np.int32), 0, h - 1)
    dilated = _dilated_lookup(magnitude, xs, ys, ((1, 0), (0, 1), (1, 1)))
    return np.mean(dilated >= min_gradient, axis=1)


def _ring(ordered: np.ndarray, factor: float) -> np.ndarray:
    """12 points per side (t 0.1..0.9) of each quad, scaled about its centre by ``factor``: (N, 48, 2)."""
    q = np.asarray(ordered, dtype=np.float32)
    centre = q.mean(axis=1, keepdims=True)  # (N, 1, 2)
    t = np.linspace(0.1, 0.9, 12)[None, None, :, None]
    pts = q[:, :, None, :] + t * (np.roll(q, -1, axis=1) - q)[:, :, None, :]  # (N, 4, 12, 2)
    return (centre[:, None] + (pts - centre[:, None]) * factor).reshape(len(q), 48, 2)


def outside_texture_many(magnitude: np.ndarray, ordered: np.ndarray, min_gradient: float) -> np.ndarray:
    """Per quad (N,): the fraction of the points of a ring just outside it (6 % of its size out) that lie
    in the image and have a gradient >= ``min_gradient`` there or at a 4-neighbour (0 when none lies in
    the image). Outside a card is the room, out of focus; outside a text block it is still the card."""
    h, w = magnitude.shape
    pts = _ring(ordered, 1.06)
    xs, ys = np.rint(pts[..., 0]).astype(np.int32), np.rint(pts[..., 1]).astype(np.int32)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    strong = _dilated_lookup(magnitude, xs, ys, ((1, 0), (0, 1), (-1, 0), (0, -1))) >= min_gradient
    count = inside.sum(axis=1)
    return np.where(count > 0, (strong & inside).sum(axis=1) / np.maximum(count, 1), 0.0)


def margin_grey_many(grey: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Per quad (N,): the median grey (0..255, of uint8 (H, W) ``grey``) on a ring just inside it (4 % of
    its size in): a card's own print near its edge, or the dark frame of a phone or a holder around one."""
    h, w = grey.shape
    pts = _ring(ordered, 0.96)
    xs = np.clip(np.rint(pts[..., 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(pts[..., 1]).astype(np.int32), 0, h - 1)
    return np.median(grey[ys, xs], axis=1)


def side_margin_grey_many(grey: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Per quad and side (N, 4): the median grey of :func:`margin_grey_many`'s ring, side by side (12
    points each, TL->TR first)."""
    h, w = grey.shape
    pts = _ring(ordered, 0.96).reshape(len(ordered), 4, 12, 2)
    xs = np.clip(np.rint(pts[..., 0]).astype(np.int32), 0, w - 1)
    ys = np.clip(np.rint(pts[..., 1]).astype(np.int32), 0, h - 1)
    return np.median(grey[ys, xs], axis=2)


def dedupe_many(quads: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the quads (N, 4, 2) to keep: near-duplicates (every corner in the same
    3x3 px cell, in any corner order) are dropped, the first of each kept."""
    if len(quads) == 0:
        return np.zeros(0, dtype=np.intp)
    cells = np.trunc(np.asarray(quads, dtype=np.float64)).astype(np.int64) // 3  # (N, 4, 2)
    order = np.lexsort((cells[..., 1], cells[..., 0]), axis=-1)  # corners sorted by (x, y)
    keys = np.take_along_axis(cells, order[..., None], axis=1).reshape(len(quads), 8)
    _, first = np.unique(keys, axis=0, return_index=True)
    return np.sort(first)
