"""The tesseract OCR engine for MRZ text, loaded once and driven through tesseract's C API.

The engine binds ``libtesseract`` (the library the Debian ``tesseract-ocr`` package installs) with
ctypes, so the LSTM model is read from disk once per engine instead of once per call as the command line
(and pytesseract) would: on this machine a cropped MRZ line takes about 57 ms in-process against about
100 ms through the command line (../shared/notes/dependencies.md).

The MRZ model is ``mrz.traineddata`` (DoubangoTelecom/tesseractMRZ, BSD-3-Clause), looked up in the
``tessdata_dir`` the caller passes (``Settings.resolved_tessdata_dir``), then in ../shared/data/tessdata
of a development checkout. Without it :class:`MrzModelMissingError` is raised; callers report the MRZ
check ``inconclusive`` with reason ``mrz_model_missing``. There is no fallback to the stock ``eng``
model, which cannot read an MRZ (it reads ``<`` as ``K``: 18% of real lines exact against 98%).

Images are numpy ``uint8`` grey ``(H, W)`` or BGR ``(H, W, 3)``. An engine is thread-safe (one lock);
own one per process and share it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import threading
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

__all__ = [
    "MRZ_WHITELIST",
    "MrzModelMissingError",
    "OcrUnavailableError",
    "OcrText",
    "PageSegMode",
    "SYSTEM_TESSDATA",
    "VISUAL_WHITELIST",
    "TesseractEngine",
    "default_tessdata_dirs",
]

#: The 37 characters an MRZ may hold (ICAO 9303 part 3).
MRZ_WHITELIST = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
#: OpenMP threads per recognition. Tesseract's LSTM defaults to every core; on 2 shared cores that made
#: one line 4.5x slower (257 ms vs 57 ms, measured on the mrz-lines crops, Nov 2026), so one thread.
OMP_THREADS = "1"
_SHARED_TESSDATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tessdata"
#: Where Debian's tesseract-ocr-* packages put the stock models (``eng`` for printed text, not for MRZs).
SYSTEM_TESSDATA = (Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"))
#: Characters of a printed visual zone as our documents print it (names, dates, numbers).
VISUAL_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./- "


class MrzModelMissingError(RuntimeError):
    """No ``<language>.traineddata`` was found; the MRZ check must say inconclusive (mrz_model_missing)."""


class OcrUnavailableError(RuntimeError):
    """libtesseract could not be loaded or initialised."""


class PageSegMode(IntEnum):
    """Tesseract page segmentation modes used here."""

    SINGLE_BLOCK = 6
    SINGLE_LINE = 7


@dataclass(frozen=True)
class OcrText:
    """Recognised text and tesseract's mean confidence for it, scaled to 0..1."""

    text: str
    confidence: float


def default_tessdata_dirs(tessdata_dir: Path | None, language: str = "mrz") -> list[Path]:
    """Where the model is looked for, in order: the caller's folder, then ../shared/data/tessdata (the
    MRZ model), then for other languages the system's tessdata folders."""
    dirs = [tessdata_dir] if tessdata_dir is not None else []
    dirs.append(_SHARED_TESSDATA)
    if language != "mrz":
        dirs.extend(SYSTEM_TESSDATA)
    return dirs


def _load_library() -> ctypes.CDLL:
    # Must be set before libgomp initialises (it reads the variable once).
    os.environ.setdefault("OMP_THREAD_LIMIT", OMP_THREADS)
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise OcrUnavailableError(f"libtesseract not found ({name}): install the tesseract-ocr package") from exc
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    lib.TessVersion.restype = cp
    lib.TessBaseAPICreate.restype = vp
    lib.TessBaseAPIInit3.argtypes = [vp, cp, cp]
    lib.TessBaseAPIInit3.restype = ci
    lib.TessBaseAPISetPageSegMode.argtypes = [vp, ci]
    lib.TessBaseAPISetVariable.argtypes = [vp, cp, cp]
    lib.TessBaseAPISetVariable.restype = ci
    lib.TessBaseAPISetImage.argtypes = [vp, vp, ci, ci, ci, ci]
    lib.TessBaseAPISetSourceResolution.argtypes = [vp, ci]
    lib.TessBaseAPIGetUTF8Text.argtypes = [vp]
    lib.TessBaseAPIGetUTF8Text.restype = vp
    lib.TessBaseAPIMeanTextConf.argtypes = [vp]
    lib.TessBaseAPIMeanTextConf.restype = ci
    lib.TessDeleteText.argtypes = [vp]
    lib.TessBaseAPIClear.argtypes = [vp]
    lib.TessBaseAPIEnd.argtypes = [vp]
    lib.TessBaseAPIDelete.argtypes = [vp]
    return lib


class TesseractEngine:
    """One tesseract instance with one model, loaded on first use (or by :meth:`warmup`), never at import.

    ``language`` is the model name: ``mrz`` for the MRZ; ``eng`` for the printed visual zone (with
    ``whitelist=VISUAL_WHITELIST``), never for the MRZ itself.
    """

    def __init__(self, tessdata_dir: Path | None = None, language: str = "mrz", whitelist: str = MRZ_WHITELIST) -> None:
        self._requested_dir = tessdata_dir
        self.language = language
        self.whitelist = whitelist
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self._api: int | None = None
        self._model_path: Path | None = None
        self._model_digest = ""

    # -- loading -----------------------------------------------------------------------------------
    def model_path(self) -> Path:
        """The ``.traineddata`` file this engine uses; raises :class:`MrzModelMissingError` if none."""
        for folder in default_tessdata_dirs(self._requested_dir, self.language):
            candidate = folder / f"{self.language}.traineddata"
            if candidate.is_file():
                return candidate
        searched = ", ".join(str(d) for d in default_tessdata_dirs(self._requested_dir, self.language))
        raise MrzModelMissingError(
            f"{self.language}.traineddata not found in {searched}; set VIDEOIDENT_TESSDATA_DIR to the folder "
            "holding mrz.traineddata (DoubangoTelecom/tesseractMRZ, tessdata_fast)"
        )

    def _ensure_loaded(self) -> tuple[ctypes.CDLL, int]:
        if self._lib is not None and self._api is not None:
            return self._lib, self._api
        path = self.model_path()
        lib = _load_library()
        api = lib.TessBaseAPICreate()
        if not api or lib.TessBaseAPIInit3(api, str(path.parent).encode(), self.language.encode()) != 0:
            raise OcrUnavailableError(f"tesseract could not load {path}")
        if lib.TessBaseAPISetVariable(api, b"tessedit_char_whitelist", self.whitelist.encode()) != 1:
            raise OcrUnavailableError("tesseract refused the character whitelist")
        # tesseract's diagnostics (e.g. on a blank crop) go nowhere rather than to stderr
        lib.TessBaseAPISetVariable(api, b"debug_file", b"/dev/null")
        # keep spaces between words in the visual zone (the whitelist would otherwise drop them)
        lib.TessBaseAPISetVariable(api, b"preserve_interword_spaces", b"1")
        self._model_digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self._lib, self._api, self._model_path = lib, api, path
        return lib, api

    @property
    def version(self) -> str:
        """``tesseract 5.3.0 mrz.traineddata sha256:…`` (loads the engine if needed)."""
        with self._lock:
            lib, _ = self._ensure_loaded()
            tess = lib.TessVersion().decode()
        return f"tesseract {tess} {self.language}.traineddata sha256:{self._model_digest}"

    def warmup(self) -> None:
        """Load the model and run one recognition, so the first real frame pays no start-up cost."""
        blank = np.full((40, 400), 255, np.uint8)
        blank[12:28, 20:380:20] = 0
        self.recognise(blank, PageSegMode.SINGLE_LINE)

    # -- recognition -------------------------------------------------------------------------------
    def recognise(self, image: np.ndarray, mode: PageSegMode = PageSegMode.SINGLE_LINE) -> OcrText:
        """OCR one image (grey ``(H, W)`` or BGR ``(H, W, 3)`` uint8). Newlines separate lines in block mode."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
            raise ValueError(f"expected a uint8 grey or BGR image, got {image.dtype} {image.shape}")
        if image.ndim == 3:
            image = np.ascontiguousarray(image[:, :, ::-1])  # BGR -> RGB for tesseract
        else:
            image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else 3
        with self._lock:
            lib, api = self._ensure_loaded()
            lib.TessBaseAPISetPageSegMode(api, int(mode))
            lib.TessBaseAPISetImage(api, image.ctypes.data, width, height, channels, image.strides[0])
            # Without a resolution tesseract warns and guesses; 300 dpi is what it was trained for.
            lib.TessBaseAPISetSourceResolution(api, 300)
            pointer = lib.TessBaseAPIGetUTF8Text(api)
            try:
                text = ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else ""
            finally:
                if pointer:
                    lib.TessDeleteText(pointer)
            confidence = max(0, lib.TessBaseAPIMeanTextConf(api)) / 100.0
            lib.TessBaseAPIClear(api)
        text = text.strip()
        if " " not in self.whitelist:
            text = text.replace(" ", "")
        return OcrText(text, confidence)

    def close(self) -> None:
        with self._lock:
            if self._lib is not None and self._api is not None:
                self._lib.TessBaseAPIEnd(self._api)
                self._lib.TessBaseAPIDelete(self._api)
            self._lib, self._api = None, None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:  # noqa: S110, BLE001 - never raise from a finaliser
            pass
