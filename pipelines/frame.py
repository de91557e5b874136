"""What flows through the live pipeline: frames, the located document, and the stage protocol.

Images are numpy ``uint8`` arrays in **BGR** order, shape ``(H, W, 3)`` (OpenCV's convention).
Points are ``(x, y)`` pixels, float32. Document corners are ordered top-left, top-right, bottom-right,
bottom-left *of the document* (not of the frame), shape ``(4, 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from pipelines.results import CheckResult

__all__ = ["Frame", "DocumentKind", "DocumentSide", "DocumentView", "FrameContext", "Stage"]


@dataclass(frozen=True)
class Frame:
    """One decoded video frame. ``t_s`` is the capture time in seconds from the session start."""

    image: np.ndarray
    index: int
    t_s: float

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"frame must be BGR uint8 (H, W, 3), got {self.image.dtype} {self.image.shape}")
        if self.t_s < 0 or self.index < 0:
            raise ValueError("frame index and time must be non-negative")


class DocumentKind(StrEnum):
    ID1 = "id1"  # ID-1 card, 85.60 x 53.98 mm (TD1)
    TD3 = "td3"  # passport data page, 125 x 88 mm


class DocumentSide(StrEnum):
    FRONT = "front"
    BACK = "back"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DocumentView:
    """A document found in one frame.

    ``corners_px``: (4, 2) float32 in frame pixels, TL, TR, BR, BL of the document.
    ``rectified``: BGR uint8, the document warped flat to its canonical size (aspect of ``kind``).
    ``yaw_deg``: rotation about the document's vertical axis (left/right), positive = right edge away.
    ``pitch_deg``: rotation about its horizontal axis (up/down), positive = top edge away.
    """

    corners_px: np.ndarray
    rectified: np.ndarray
    kind: DocumentKind
    side: DocumentSide
    yaw_deg: float | None
    pitch_deg: float | None
    confidence: float

    def __post_init__(self) -> None:
        if self.corners_px.shape != (4, 2):
            raise ValueError(f"corners must be (4, 2), got {self.corners_px.shape}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError("confidence must be in 0..1")


@dataclass(frozen=True)
class FrameContext:
    """A frame and what earlier stages found in it (the document, if any)."""

    frame: Frame
    document: DocumentView | None


class Stage(Protocol):
    """One check over a session's frames. ``observe`` is called per frame; it decides itself whether a
    frame is worth heavy work (OCR, encoding) and must be cheap otherwise. ``result`` may be called at
    any time and reflects everything observed so far."""

    name: str

    def observe(self, context: FrameContext) -> None: ...

    def result(self) -> CheckResult: ...
