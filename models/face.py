"""The face engine: the one wrapper around face_recognition / dlib (HOG detector, landmarks, ResNet encoder).

Images come in as **BGR uint8 (H, W, 3)** (OpenCV order, what every pipeline stage holds) and are
converted to RGB inside, which is what dlib's models were trained on. Boxes are ``(top, right, bottom,
left)`` integer pixels, face_recognition's order. Landmarks are float32 ``(N, 2)`` arrays of ``(x, y)``
pixels (N = 68, iBUG 300-W order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).
Encodings are float64 ``(128,)`` vectors; the same person is closer than about 0.6 in Euclidean distance.

The models load lazily, once per :class:`FaceEngine`, on first use or :meth:`FaceEngine.warmup`; nothing
loads at import time. Whoever composes the pipeline owns one engine and passes it to the stages.

Why the import is guarded: ``face_recognition`` catches the ImportError of ``face_recognition_models``
(which needs ``pkg_resources``, removed in setuptools 82) and calls ``quit()``, silently ending the process
with exit code 0 (../shared/notes/dependencies.md). We import ``face_recognition_models`` first, so the same
failure raises :class:`FaceEngineUnavailable` with the fix instead.
"""

from __future__ import annotations

import importlib.metadata
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "DEFAULT_UPSAMPLE",
    "DEFAULT_NUM_JITTERS",
    "FaceBox",
    "DetectedFace",
    "FaceEngine",
    "FaceEngineUnavailable",
]

#: HOG pyramid upsampling for detection. 0 finds faces from about 80 px wide and costs 0.03 s at 640x480,
#: 0.08-0.10 s at 720p; face_recognition's default 1 finds 40 px faces at 4x the cost
#: (../shared/notes/faces.md). Live webcam faces are > 100 px; small ID portraits are upscaled by the caller.
DEFAULT_UPSAMPLE = 0
#: Encoder jitters: 1 = one forward pass (0.1-0.2 s); 10 costs 0.9-1.5 s for a small gain (faces.md).
DEFAULT_NUM_JITTERS = 1
#: dlib's HOG detection score below which a detection is dropped (dlib's own default is 0.0).
DETECTION_SCORE_MIN = 0.0


class FaceEngineUnavailable(RuntimeError):
    """The face models cannot be loaded (a broken install); the message says how to fix it."""


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixels, face_recognition's ``(top, right, bottom, left)`` order."""

    top: int
    right: int
    bottom: int
    left: int

    def __post_init__(self) -> None:
        if self.bottom <= self.top or self.right <= self.left:
            raise ValueError(f"empty face box {self.as_tuple()}")

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        """``(x, y)`` of the box centre."""
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.top, self.right, self.bottom, self.left)

    def scaled(self, factor: float) -> FaceBox:
        """The box in an image ``factor`` times as large."""
        return FaceBox(
            round(self.top * factor), round(self.right * factor), round(self.bottom * factor), round(self.left * factor)
        )

    def shifted(self, dx: int, dy: int) -> FaceBox:
        return FaceBox(self.top + dy, self.right + dx, self.bottom + dy, self.left + dx)


@dataclass(frozen=True)
class DetectedFace:
    """A detected face: its box, dlib's HOG score (higher = more face-like) and its 68 landmarks."""

    box: FaceBox
    score: float
    landmarks: np.ndarray  # float32 (68, 2), (x, y) pixels

    def __post_init__(self) -> None:
        if self.landmarks.shape != (68, 2):
            raise ValueError(f"landmarks must be (68, 2), got {self.landmarks.shape}")

    def shifted(self, dx: int, dy: int) -> DetectedFace:
        """The same face in an image whose origin is ``(-dx, -dy)`` from this one's (crop -> frame)."""
        moved = (self.landmarks + np.array([dx, dy], np.float32)).astype(np.float32)
        return DetectedFace(self.box.shifted(dx, dy), self.score, moved)


def _check_bgr(image_bgr: np.ndarray) -> None:
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected BGR uint8 (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")


class FaceEngine:
    """HOG detection, 68-point landmarks and 128-d encodings, loaded lazily once. Thread-safe loading;
    dlib's calls themselves release no shared state, so one engine may serve several sessions in turn."""

    def __init__(self, upsample: int = DEFAULT_UPSAMPLE, num_jitters: int = DEFAULT_NUM_JITTERS) -> None:
        if upsample < 0 or num_jitters < 1:
            raise ValueError("upsample must be >= 0 and num_jitters >= 1")
        self.upsample = upsample
        self.num_jitters = num_jitters
        self._models: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if self._models is not None:
            return self._models
        with self._lock:
            if self._models is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        import face_recognition_models  # noqa: F401 - imported first: see the module docstring
                except Exception as exc:  # pragma: no cover - a broken install
                    raise FaceEngineUnavailable(
                        f"face_recognition_models cannot be imported ({exc}); it needs pkg_resources: "
                        "install 'setuptools<82' in this environment"
                    ) from exc
                import dlib

                with warnings.catch_warnings():
                    # face_recognition_models' own "pkg_resources is deprecated" notice, once, at load.
                    warnings.simplefilter("ignore", UserWarning)
                    import face_recognition.api as fr

                self._models = {
                    "detector": fr.face_detector,
                    "landmarks68": fr.pose_predictor_68_point,
                    "landmarks5": fr.pose_predictor_5_point,
                    "encoder": fr.face_encoder,
                    "dlib": dlib,
                    "fr": fr,
                }
        assert self._models is not None
        return self._models

    @property
    def version(self) -> str:
        """Which models and settings produced a result, recorded in every face result."""
        self._load()
        import dlib

        fr_version = importlib.metadata.version("face-recognition")
        models_version = importlib.metadata.version("face-recognition-models")
        return (
            f"face_recognition {fr_version} (models {models_version}) / dlib {dlib.__version__}: "
            f"HOG upsample {self.upsample}, 68-point landmarks, resnet_v1 5-point aligned, jitters {self.num_jitters}"
        )

    def warmup(self) -> None:
        """Load the models and run each once, so the first real frame does not pay for it."""
        models = self._load()
        blank = np.zeros((120, 120, 3), dtype=np.uint8)
        models["detector"].run(blank, 0, DETECTION_SCORE_MIN)
        rect = models["dlib"].rectangle(20, 20, 100, 100)
        shape = models["landmarks5"](blank, rect)
        models["encoder"].compute_face_descriptor(blank, shape, 1)

    # -- detection -------------------------------------------------------------------------------------
    def detect(self, image_bgr: np.ndarray, upsample: int | None = None, scale: float = 1.0) -> list[DetectedFace]:
        """Faces in the image, largest first, with their 68 landmarks, in the image's own pixels.

        ``scale`` < 1 runs the HOG detector on a downscaled copy (faster; faces must stay >= ~80 px at
        upsample 0) and maps the boxes back; > 1 upscales a small image (an ID portrait) so the detector
        sees the face. Landmarks are always fitted on the image at its own resolution.
        """
        _check_bgr(image_bgr)
        if scale <= 0:
            raise ValueError("scale must be positive")
        models = self._load()
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        small = rgb
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
            small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interpolation)
        ups = self.upsample if upsample is None else upsample
        rects, scores, _ = models["detector"].run(small, ups, DETECTION_SCORE_MIN)
        height, width = image_bgr.shape[:2]
        faces: list[DetectedFace] = []
        for rect, score in zip(rects, scores, strict=True):
            top = max(0, round(rect.top() / scale))
            left = max(0, round(rect.left() / scale))
            bottom = min(height, round(rect.bottom() / scale))
            right = min(width, round(rect.right() / scale))
            if bottom <= top or right <= left:
                continue
            box = FaceBox(top, right, bottom, left)
            faces.append(DetectedFace(box, float(score), self._landmarks68(models, rgb, box)))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    @staticmethod
    def _landmarks68(models: dict[str, Any], rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        rect = models["dlib"].rectangle(box.left, box.top, box.right, box.bottom)
        shape = models["landmarks68"](rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def landmarks(self, image_bgr: np.ndarray, box: FaceBox) -> np.ndarray:
        """The 68 landmarks, float32 (68, 2) ``(x, y)``, of the face in ``box`` (e.g. a tracked box)."""
        _check_bgr(image_bgr)
        return self._landmarks68(self._load(), cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), box)

    # -- encoding --------------------------------------------------------------------------------------
    def encode(self, image_bgr: np.ndarray, box: FaceBox) -> np.ndarray:
        """The 128-d encoding, float64 (128,), of the face in ``box`` (aligned on 5 landmarks, as
        face_recognition's default). Costs about 0.1-0.2 s on one core."""
        _check_bgr(image_bgr)
        models = self._load()
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rect = models["dlib"].rectangle(box.left, box.top, box.right, box.bottom)
        shape = models["landmarks5"](rgb, rect)
        descriptor = models["encoder"].compute_face_descriptor(rgb, shape, self.num_jitters)
        return np.asarray(descriptor, dtype=np.float64)

    def default_pipeline(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """face_recognition's documented default: ``face_locations`` (HOG, upsample 1) then
        ``face_encodings`` for every face. The baseline the benchmarks compare against."""
        _check_bgr(image_bgr)
        fr = self._load()["fr"]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        locations = fr.face_locations(rgb)
        return [np.asarray(e, dtype=np.float64) for e in fr.face_encodings(rgb, locations)]
