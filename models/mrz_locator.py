"""PassportEye (MIT), used two ways: its MRZ box locator on in-memory images, and ``read_mrz`` exactly as
its documentation shows, as the baseline our reader is measured against (api/benchmarks/mrz.py).

Privacy: ``read_mrz`` writes each candidate MRZ crop to a temporary BMP file for the tesseract command
line (passporteye/util/ocr.py). Use :func:`passporteye_read_mrz` on specimens and synthetic images only,
never on a customer's frames; :class:`PassportEyeLocator` works in memory and writes nothing.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PassportEyeLocator", "BaselineRead", "passporteye_read_mrz", "passporteye_version"]


def passporteye_version() -> str:
    return f"passporteye {importlib.metadata.version('PassportEye')}"


class PassportEyeLocator:
    """PassportEye's locator (scale to 250 px, Boone's morphology, rotated-box fit) on an image in memory.

    ``locate`` returns the candidate MRZ regions as straightened grey uint8 crops, best first.
    """

    @property
    def version(self) -> str:
        return passporteye_version()

    def warmup(self) -> None:
        self.locate(np.full((200, 300), 255, np.uint8))

    def locate(self, image: np.ndarray, max_boxes: int = 4) -> list[np.ndarray]:
        """``image``: grey ``(H, W)`` or BGR ``(H, W, 3)`` uint8."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            from passporteye.mrz.image import BooneTransform, MRZBoxLocator, Scaler

            grey = image if image.ndim == 2 else image[:, :, ::-1].mean(axis=2)
            grey_f = np.asarray(grey, np.float64) / 255.0
            small, scale = Scaler()(grey_f)
            binary = BooneTransform()(small)
            boxes = MRZBoxLocator(max_boxes=max_boxes)(binary)
            crops = []
            for box in boxes:
                crop = box.extract_from_image(grey_f, 1.0 / scale)
                if crop.size:
                    crops.append(np.clip(crop * 255.0, 0, 255).astype(np.uint8))
        return crops


@dataclass(frozen=True)
class BaselineRead:
    """What ``passporteye.read_mrz`` returned: its cleaned lines (None when it found no MRZ), its
    ``valid_score`` (100 = every check it makes held) and its ``valid`` flag."""

    lines: tuple[str, ...] | None
    valid_score: int
    valid: bool


def passporteye_read_mrz(path: Path, tessdata_dir: Path | None = None) -> BaselineRead:
    """``passporteye.read_mrz(path)`` as documented; with ``tessdata_dir``, the MRZ model passed through
    its ``extra_cmdline_params`` (``--tessdata-dir DIR -l mrz``). Writes temp files: specimens only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        from passporteye import read_mrz
        from passporteye.mrz.text import MRZOCRCleaner

        extra = f"--tessdata-dir {tessdata_dir} -l mrz" if tessdata_dir is not None else ""
        mrz = read_mrz(str(path), extra_cmdline_params=extra)
    if mrz is None:
        return BaselineRead(None, 0, False)
    raw = mrz.aux.get("raw_text", "")
    lines = tuple(MRZOCRCleaner.apply(raw)) if raw else None
    return BaselineRead(lines, int(mrz.valid_score), bool(mrz.valid))
