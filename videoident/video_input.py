"""Recorded video into :class:`pipelines.frame.Frame` objects: YUV4MPEG2 (.y4m), any container PyAV
reads (.mp4, .webm, .mkv, ...), or a folder of images (sorted by name).

:func:`open_video` checks the input up front and raises :class:`VideoInputError` with a clear message
when it cannot be read; iterating the returned :class:`VideoSource` yields frames (BGR uint8) with their
index and time in seconds. A frame that fails to decode mid-stream is skipped and counted in
``VideoSource.skipped`` (a starved decoder's garbage is *not* skipped: it decodes, and quality flags it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from pipelines.frame import Frame

__all__ = ["VideoInputError", "VideoSource", "open_video", "IMAGE_SUFFIXES", "DEFAULT_FOLDER_FPS"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: Frame rate assumed for a folder of images (and a Y4M file without an F field): the rate the customer
#: page captures at.
DEFAULT_FOLDER_FPS = 15.0
#: Largest frame accepted (8K): a header claiming more is a corrupt or hostile file.
MAX_PIXELS = 7680 * 4320


class VideoInputError(ValueError):
    """The input cannot be read as a video (missing, unknown format, corrupt header)."""


@dataclass
class VideoSource:
    """An opened video. Iterate it (once) for frames."""

    path: Path
    format: str  # "y4m" | "av" | "images"
    fps: float
    width: int | None
    height: int | None
    skipped: int = 0
    _iterator: Iterator[Frame] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Frame]:
        if self._iterator is None:
            raise VideoInputError("a video source can be iterated only once")
        iterator, self._iterator = self._iterator, None
        return iterator


def open_video(path: Path | str, fps: float | None = None) -> VideoSource:
    """Open ``path`` (a .y4m file, a video file PyAV reads, or a folder of images).

    ``fps`` overrides the frame rate used for frame times (for folders and rate-less files)."""
    path = Path(path)
    if not path.exists():
        raise VideoInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return _open_folder(path, fps or DEFAULT_FOLDER_FPS)
    if path.suffix.lower() == ".y4m":
        return _open_y4m(path, fps)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _open_files(path, [path], fps or DEFAULT_FOLDER_FPS)
    return _open_av(path, fps)


# --- folder of images ------------------------------------------------------------------------------
def _open_folder(path: Path, fps: float) -> VideoSource:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoInputError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    return _open_files(path, files, fps)


def _open_files(path: Path, files: list[Path], fps: float) -> VideoSource:
    first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
    if first is None and len(files) == 1:
        raise VideoInputError(f"{files[0]}: not a readable image")
    width, height = (None, None) if first is None else (int(first.shape[1]), int(first.shape[0]))
    source = VideoSource(path, "images", fps, width, height)

    def frames() -> Iterator[Frame]:
        index = 0
        for file in files:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                source.skipped += 1
                continue
            yield Frame(np.ascontiguousarray(image), index, index / fps)
            index += 1

    source._iterator = frames()
    return source


# --- YUV4MPEG2 -------------------------------------------------------------------------------------
_Y4M_MAGIC = b"YUV4MPEG2"


def _parse_y4m_header(line: bytes) -> dict[str, str]:
    if not line.startswith(_Y4M_MAGIC):
        raise VideoInputError("not a YUV4MPEG2 file (bad magic)")
    fields: dict[str, str] = {}
    for token in line[len(_Y4M_MAGIC) :].decode("ascii", errors="replace").split():
        fields[token[0]] = token[1:]
    return fields


def _open_y4m(path: Path, fps: float | None) -> VideoSource:
    handle: BinaryIO = path.open("rb")
    try:
        header = handle.readline(1024)
        fields = _parse_y4m_header(header.rstrip(b"\n"))
        width, height = int(fields.get("W", "0")), int(fields.get("H", "0"))
    except (VideoInputError, ValueError) as exc:
        handle.close()
        raise VideoInputError(f"{path}: {exc}") from exc
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS or width % 2 or height % 2:
        handle.close()
        raise VideoInputError(f"{path}: unsupported frame size {width}x{height}")
    colour = fields.get("C", "420jpeg")
    if colour.startswith("420"):
        frame_bytes, convert = width * height * 3 // 2, "420"
    elif colour.startswith("444"):
        frame_bytes, convert = width * height * 3, "444"
    elif colour.startswith("mono"):
        frame_bytes, convert = width * height, "mono"
    else:
        handle.close()
        raise VideoInputError(f"{path}: unsupported Y4M colour space C{colour}")
    rate = fps
    if rate is None:
        match = re.fullmatch(r"(\d+):(\d+)", fields.get("F", ""))
        rate = int(match.group(1)) / int(match.group(2)) if match and int(match.group(2)) else DEFAULT_FOLDER_FPS
    source = VideoSource(path, "y4m", rate, width, height)

    def frames() -> Iterator[Frame]:
        index = 0
        try:
            while True:
                marker = handle.readline(4096)
                if not marker:
                    return
                if not marker.startswith(b"FRAME"):
                    source.skipped += 1
                    return  # lost sync: stop rather than decode garbage as frames
                data = handle.read(frame_bytes)
                if len(data) < frame_bytes:
                    source.skipped += 1
                    return
                plane = np.frombuffer(data, dtype=np.uint8)
                if convert == "420":
                    image = cv2.cvtColor(plane.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_I420)
                elif convert == "444":
                    yuv = plane.reshape(3, height, width).transpose(1, 2, 0)
                    image = cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2BGR)
                else:
                    image = cv2.cvtColor(plane.reshape(height, width), cv2.COLOR_GRAY2BGR)
                yield Frame(image, index, index / rate)
                index += 1
        finally:
            handle.close()

    source._iterator = frames()
    return source


# --- anything PyAV reads ---------------------------------------------------------------------------
def _open_av(path: Path, fps: float | None) -> VideoSource:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoInputError(f"{path}: cannot open as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoInputError(f"{path}: contains no video stream")
    stream = container.streams.video[0]
    rate = fps or (float(stream.average_rate) if stream.average_rate else DEFAULT_FOLDER_FPS)
    source = VideoSource(path, "av", rate, stream.codec_context.width or None, stream.codec_context.height or None)

    def frames() -> Iterator[Frame]:
        index = 0
        start: float | None = None
        try:
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError:
                    source.skipped += 1
                    continue
                for video_frame in decoded:
                    image = video_frame.to_ndarray(format="bgr24")
                    t = video_frame.time
                    if t is None or fps is not None:
                        t_s = index / rate
                    else:
                        start = t if start is None else start
                        t_s = max(0.0, t - start)
                    yield Frame(np.ascontiguousarray(image), index, t_s)
                    index += 1
        finally:
            container.close()

    source._iterator = frames()
    return source
