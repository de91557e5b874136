"""Find and encode the face in a still image (an uploaded photo, a captured frame, an ID portrait).

Images are BGR uint8 (H, W, 3). Faces are found with the engine's HOG detector on a copy scaled to at
most :data:`STILL_MAX_SIDE_PX` with upsample :data:`STILL_UPSAMPLE`; landmarks and the encoding use the
image at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.face import DetectedFace, FaceEngine
from pipelines.results import Reason

__all__ = [
    "STILL_MAX_SIDE_PX",
    "STILL_UPSAMPLE",
    "MIN_FACE_WIDTH_PX",
    "SECOND_FACE_RATIO",
    "SECOND_FACE_MIN_SCORE",
    "several_faces",
    "StillFace",
    "find_faces",
    "analyze_still",
]

#: Detection copy's longest side. Phone photos of 4000 px take seconds at full size; at 1280 px with
#: upsample 1 the detector still finds faces from ~40 px of the copy (../shared/notes/faces.md).
STILL_MAX_SIDE_PX = 1280
#: face_recognition's default upsample for stills: finds 40 px faces (faces.md).
STILL_UPSAMPLE = 1
#: Narrowest face (box width, px in the image) we encode. At 40 px faces.md measured 7.9% FNMR at 0.6
#: and 48.6% at 0.5; at 64 px 1.8%: below 50 px the distance says more about the pixels than the person.
MIN_FACE_WIDTH_PX = 50
#: A second face at least this fraction of the largest one's width means "several people in the picture".
#: Smaller faces (a photo on a poster far behind) are ignored.
SECOND_FACE_RATIO = 0.5
#: A second detection counts as a person only from this HOG score. Measured: the false detection on the
#: astronaut's suit scores 0.12; real second faces in ../shared/data group photos score 0.38-1.5.
SECOND_FACE_MIN_SCORE = 0.25


@dataclass(frozen=True)
class StillFace:
    """The faces found in one image and, when usable, the encoding of the largest.

    ``encoding``: float64 (128,) or None; ``problem``: why it is None (or why a decision must not pass).
    """

    faces: tuple[DetectedFace, ...]
    encoding: np.ndarray | None
    problem: Reason | None

    @property
    def face_width_px(self) -> int | None:
        return self.faces[0].box.width if self.faces else None

    def summary(self) -> dict[str, object]:
        return {
            "faces_found": len(self.faces),
            "boxes": [list(f.box.as_tuple()) for f in self.faces],
            "face_width_px": self.face_width_px,
            "problem": None if self.problem is None else self.problem.code,
        }


def find_faces(engine: FaceEngine, image_bgr: np.ndarray, upsample: int = STILL_UPSAMPLE) -> list[DetectedFace]:
    """All faces, largest first, in the image's own pixels."""
    longest = max(image_bgr.shape[:2])
    scale = min(1.0, STILL_MAX_SIDE_PX / longest)
    return engine.detect(image_bgr, upsample=upsample, scale=scale)


def several_faces(faces: list[DetectedFace] | tuple[DetectedFace, ...]) -> bool:
    return any(
        f.score >= SECOND_FACE_MIN_SCORE and f.box.width >= SECOND_FACE_RATIO * faces[0].box.width for f in faces[1:]
    )


def analyze_still(engine: FaceEngine, image_bgr: np.ndarray, min_face_px: int = MIN_FACE_WIDTH_PX) -> StillFace:
    """Detect, check and encode the largest face. Several comparable faces still get an encoding (the
    caller reports the distance) but carry the ``several_faces`` problem, so no decision passes."""
    found = find_faces(engine, image_bgr)
    # Weak secondary detections are texture, not people (see SECOND_FACE_MIN_SCORE).
    faces = found[:1] + [f for f in found[1:] if f.score >= SECOND_FACE_MIN_SCORE]
    if not faces:
        return StillFace((), None, Reason("no_face", "no face found in the image"))
    largest = faces[0]
    if largest.box.width < min_face_px:
        return StillFace(
            tuple(faces),
            None,
            Reason("face_too_small", f"the face is {largest.box.width} px wide; at least {min_face_px} px needed"),
        )
    encoding = engine.encode(image_bgr, largest.box)
    problem = None
    if several_faces(faces):
        problem = Reason("several_faces", f"{len(faces)} faces in the image; expected one person")
    return StillFace(tuple(faces), encoding, problem)
