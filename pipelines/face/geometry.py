"""Head pose, eye openness and face size from the 68 iBUG landmarks: the measurements liveness and
best-frame selection rely on.

Landmarks are float32 ``(68, 2)`` arrays of ``(x, y)`` pixels in the camera image as the camera sees it
(not mirrored). Index ranges (iBUG 300-W): jaw 0-16 (0 on the image's left), nose tip 30, the eye on the
image's left 36-41, the eye on the image's right 42-47.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FacePose",
    "face_pose",
    "eye_aspect_ratio",
    "inter_ocular_px",
    "yaw_deg",
    "roll_deg",
]

_JAW_LEFT, _JAW_RIGHT, _NOSE_TIP = 0, 16, 30
_EYE_IMAGE_LEFT = slice(36, 42)
_EYE_IMAGE_RIGHT = slice(42, 48)


def _check(landmarks: np.ndarray) -> None:
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {landmarks.shape}")


def yaw_deg(landmarks: np.ndarray) -> float:
    """Head rotation about the vertical axis, degrees; 0 = facing the camera.

    **Positive = the person turns towards their own left** (their nose moves to the image's right in an
    unmirrored camera image). Cylinder model: the jaw contour points 0 and 16 stay at the silhouette
    (about +-R) while the nose tip at depth ~R moves by R sin(yaw), so yaw = asin(offset / half-width).
    An approximation good to about +-10 degrees up to +-45 degrees; enough to tell a turn from none.
    """
    _check(landmarks)
    left = landmarks[_JAW_LEFT, 0]
    right = landmarks[_JAW_RIGHT, 0]
    half_width = (right - left) / 2.0
    if half_width <= 1.0:
        return 0.0
    offset = (landmarks[_NOSE_TIP, 0] - (left + right) / 2.0) / half_width
    return math.degrees(math.asin(float(np.clip(offset, -1.0, 1.0))))


def roll_deg(landmarks: np.ndarray) -> float:
    """In-plane head tilt, degrees: the angle of the line between the two eye centres (0 = level)."""
    _check(landmarks)
    a = landmarks[_EYE_IMAGE_LEFT].mean(axis=0)
    b = landmarks[_EYE_IMAGE_RIGHT].mean(axis=0)
    return math.degrees(math.atan2(float(b[1] - a[1]), float(b[0] - a[0])))


def _ear(eye: np.ndarray) -> float:
    # Soukupova & Cech 2016: (|p2-p6| + |p3-p5|) / (2 |p1-p4|), points p1..p6 in iBUG order.
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes: about 0.25-0.35 open, below about 0.2 closed
    (Soukupova & Cech, "Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016)."""
    _check(landmarks)
    return (_ear(landmarks[_EYE_IMAGE_LEFT]) + _ear(landmarks[_EYE_IMAGE_RIGHT])) / 2.0


def inter_ocular_px(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres, pixels: grows as the face comes closer to the camera."""
    _check(landmarks)
    a = landmarks[_EYE_IMAGE_LEFT].mean(axis=0)
    b = landmarks[_EYE_IMAGE_RIGHT].mean(axis=0)
    return float(np.linalg.norm(b - a))


@dataclass(frozen=True)
class FacePose:
    """The landmark measurements of one face in one frame."""

    yaw_deg: float
    roll_deg: float
    ear: float
    inter_ocular_px: float


def face_pose(landmarks: np.ndarray) -> FacePose:
    return FacePose(yaw_deg(landmarks), roll_deg(landmarks), eye_aspect_ratio(landmarks), inter_ocular_px(landmarks))
