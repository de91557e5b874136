"""Follow the document from frame to frame: optical flow predicts where the corners moved, the locator
snaps them onto the edges, and a full search runs only when that fails (or every few frames to verify).

One :class:`DocumentTracker` belongs to one session (it keeps the previous frame's downscaled grey image
and the corners found in it); :class:`pipelines.document.DocumentLocator` stays stateless.

Prediction: up to :data:`FLOW_POINTS` corner features (Shi-Tomasi) inside the previous quad, on the
locator's work image (at most 640 px wide, Gaussian-blurred grey), followed by pyramidal Lucas-Kanade
into the current frame; a RANSAC homography of the moved points maps the previous corners to the
predicted ones. The card is a plane, so one homography explains its whole motion (shift, turn, tilt,
approach). When too few points follow, the previous corners themselves are the hint (a still card).
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.document import TRACK_CONFIDENCE, DocumentLocator, Work
from pipelines.frame import DocumentKind, DocumentView

__all__ = [
    "TRACK_FRAMES",
    "VERIFY_EVERY",
    "FLOW_POINTS",
    "CONFIRMED_KEEP_MARGIN",
    "MIN_KEEP_CONFIDENCE",
    "DocumentTracker",
    "predict_corners",
]

#: The previous corners are used as a tracking hint for this many frames after the document was last seen.
TRACK_FRAMES = 3
#: While tracking, every n-th frame still runs the full search and lets its best quad compete with the
#: tracked one, so tracking cannot stay locked on a part of the card (measured on fixture scenes: without
#: it a tracked quad could sit on the header text for 5+ frames). 8 halved the full searches on the speed
#: scene but let a quad 20 px off follow itself longer (nl-id seed 502 at 5 fps: p90 corner error 21 px
#: against 3 px at 5). Measured again with the two-sided snapping and growing (2026-11-26): the seed 502
#: error is the same at 5 and 8, but the full accuracy run finds 98.3 % at 8 against 99.5 % at 5.
VERIFY_EVERY = 5
#: While the last full search confirmed the quad (its own choice, without the tracked quad, was that
#: quad), a tracked quad that the flow predicted and the edges agree with is kept down to the confidence
#: of that search's result minus CONFIRMED_KEEP_MARGIN, never below MIN_KEEP_CONFIDENCE. The fixture
#: speed scene's light back on a light wall scores 0.6-0.7 at its true corners (1 px), so every frame
#: of it ran the full search; a quad 20 px off the card is not confirmed by the search, so it is not kept.
CONFIRMED_KEEP_MARGIN = 0.05
MIN_KEEP_CONFIDENCE = 0.55
#: Features followed per frame. 40-60 are plenty for a homography with RANSAC; more cost flow time.
FLOW_POINTS = 60
#: Shi-Tomasi quality level and spacing (work px) of the features (OpenCV's usual values for tracking).
FLOW_QUALITY = 0.01
FLOW_MIN_DISTANCE_PX = 7
#: Lucas-Kanade window (work px) and pyramid levels: 3 levels of 21 px follow ~80 work px of motion per
#: frame, more than a card moves in 1/10 s at 640 px (the fixture's approach moves ~30 work px a frame).
FLOW_WINDOW_PX = 21
FLOW_LEVELS = 3
#: A point is followed when its forward-backward error is below this (work px), and a prediction needs
#: this many RANSAC inliers (reprojection threshold in work px).
FLOW_FB_ERROR_PX = 1.0
FLOW_MIN_INLIERS = 10
FLOW_RANSAC_PX = 2.0
#: The features are taken inside the quad shrunk by this fraction towards its centre: on the printed
#: card, not on the background or the fingers around its edges.
FLOW_INSET = 0.12


def predict_corners(
    previous_grey: np.ndarray, current_grey: np.ndarray, corners_work_px: np.ndarray
) -> np.ndarray | None:
    """Where the quad ``corners_work_px`` (4, 2) of ``previous_grey`` is in ``current_grey`` (both grey
    uint8 (H, W), the same size, work pixels), or None when too few features follow it."""
    if previous_grey.shape != current_grey.shape:
        return None
    quad = np.asarray(corners_work_px, dtype=np.float32).reshape(4, 2)
    if not np.all(np.isfinite(quad)):
        return None
    h, w = previous_grey.shape
    centre = quad.mean(axis=0)
    inner = centre + (quad - centre) * (1.0 - FLOW_INSET)
    x0, y0 = np.floor(inner.min(axis=0)).astype(int)
    x1, y1 = np.ceil(inner.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1 + 1), min(h, y1 + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.rint(inner - (x0, y0)).astype(np.int32), 255)
    points = cv2.goodFeaturesToTrack(
        previous_grey[y0:y1, x0:x1], FLOW_POINTS, FLOW_QUALITY, FLOW_MIN_DISTANCE_PX, mask=mask
    )
    if points is None or len(points) < FLOW_MIN_INLIERS:
        return None
    points = (points.reshape(-1, 2) + (x0, y0)).astype(np.float32)
    params = {"winSize": (FLOW_WINDOW_PX, FLOW_WINDOW_PX), "maxLevel": FLOW_LEVELS}
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous_grey, current_grey, points, None, **params)  # type: ignore[call-overload]
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(current_grey, previous_grey, moved, None, **params)  # type: ignore[call-overload]
    good = (status.ravel() == 1) & (status_back.ravel() == 1)
    good &= np.linalg.norm(back - points, axis=1) <= FLOW_FB_ERROR_PX
    if int(good.sum()) < FLOW_MIN_INLIERS:
        return None
    homography, inliers = cv2.findHomography(points[good], moved[good], cv2.RANSAC, FLOW_RANSAC_PX)
    if homography is None or inliers is None or int(inliers.sum()) < FLOW_MIN_INLIERS:
        return None
    predicted = cv2.perspectiveTransform(quad.reshape(1, 4, 2), homography).reshape(4, 2)
    return predicted if np.all(np.isfinite(predicted)) else None


class DocumentTracker:
    """Locates the document in a session's frames, in order, tracking it between frames.

    Not thread-safe: one per session, called from that session's worker (the analyzer holds its lock)."""

    def __init__(
        self,
        locator: DocumentLocator | None = None,
        track_frames: int = TRACK_FRAMES,
        verify_every: int = VERIFY_EVERY,
    ) -> None:
        self.locator = locator or DocumentLocator()
        self.track_frames = track_frames
        self.verify_every = verify_every
        self._frames = 0
        self._previous: Work | None = None
        self._corners: np.ndarray | None = None
        self._since_document = track_frames + 1
        #: Confidence of the quad the last full search confirmed (None: not confirmed, or lost since).
        self._confirmed: float | None = None
        #: Counters for benchmarks: frames answered by tracking alone, and full searches run.
        self.tracked_frames = 0
        self.full_searches = 0

    def locate(self, image: np.ndarray, kind: DocumentKind | None = None) -> DocumentView | None:
        """The document in the next frame ``image`` (BGR uint8 (H, W, 3)) or None; see
        :meth:`pipelines.document.DocumentLocator.locate` for ``kind``."""
        self._frames += 1
        work = self.locator.prepare(image)
        if work is None:
            return None
        hint: np.ndarray | None = None
        keep = TRACK_CONFIDENCE
        if self._corners is not None and self._since_document <= self.track_frames:
            hint = self._corners
            if self._previous is not None and self._since_document == 0:
                predicted = predict_corners(self._previous.grey, work.grey, self._corners * self._previous.scale)
                if predicted is not None:
                    hint = predicted / work.scale
                    if self._confirmed is not None:
                        keep = min(TRACK_CONFIDENCE, max(MIN_KEEP_CONFIDENCE, self._confirmed - CONFIRMED_KEEP_MARGIN))
        verify = self._frames % self.verify_every == 0
        located = self.locator.locate_prepared(image, work, hint, verify, kind, keep)
        view = located.view
        self.full_searches += int(located.searched)
        self.tracked_frames += int(view is not None and not located.searched)
        self._previous = work
        if view is None:
            self._since_document += 1
            self._confirmed = None
        else:
            self._since_document = 0
            self._corners = view.corners_px
            if located.searched:
                self._confirmed = view.confidence if located.confirmed else None
        return view
