"""The inside of one analysis pool process: it loads the MRZ and face engines once at its start, then keeps
one :class:`pipelines.analyzer.SessionAnalyzer` per live session pinned to it and analyses the frames the
server process hands over in shared memory.

The protocol is a duplex :mod:`multiprocessing` pipe carrying small tuples (never pixels):
requests ``(request_id, Op, args)``, replies ``(request_id, Status, result)``. Request id 0 is the
process's start-up reply (engines loaded, or the error's type name). The process ends when the server
closes its end of the pipe or sends :attr:`Op.STOP`. Frames travel in a shared-memory block the server
owns (created and unlinked there); this process only attaches to it.

Nothing here logs a frame, a report or the claimed identity: errors go back as exception type names.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from dataclasses import dataclass
from enum import IntEnum
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.analyzer import SessionAnalyzer, build_analyzer
from pipelines.frame import Frame

__all__ = ["EngineSpec", "Op", "Status", "LoadedEngines", "load_engines", "build_session_analyzer", "worker_main"]

log = logging.getLogger(__name__)

#: Request id of the start-up reply (engines loaded or failed).
READY_REQUEST_ID = 0
#: OpenCV threads per pool process. The pool already runs one process per core, so OpenCV's own thread
#: pool (one thread per core by default) would only oversubscribe the cores; results do not depend on it.
OPENCV_THREADS = 1


@dataclass(frozen=True)
class EngineSpec:
    """Which engines a session analyzer gets: the MRZ engine reads ``mrz.traineddata`` from ``tessdata_dir``
    (None: the MRZ check says inconclusive ``mrz_model_missing``); ``visual``: with the MRZ engine, the
    stock ``eng`` model that reads the printed visual zone, so the MRZ is compared with what is printed
    (a forged MRZ over a genuine-looking card); ``face``: the dlib face engine."""

    tessdata_dir: Path | None
    mrz: bool = True
    face: bool = True
    visual: bool = True


@dataclass(frozen=True)
class LoadedEngines:
    """The loaded (and warmed-up) engines; ``None`` for an engine not wanted (or, for ``visual``, missing)."""

    mrz: Any
    face: Any
    visual: Any = None


class Op(IntEnum):
    OPEN = 1  # args: (session_id, claim, reference_date) -> None
    FRAME = 2  # args: (session_id, shm_name, shape, index, t_s, want_report) -> (guidance, report|None, cpu_s)
    REPORT = 3  # args: session_id -> report
    CLOSE = 4  # args: session_id -> None
    STATS = 5  # args: None -> (process CPU seconds, sessions held)
    STOP = 6  # no reply


class Status(IntEnum):
    OK = 0
    ERROR = 1


def load_engines(spec: EngineSpec) -> LoadedEngines:
    """Load and warm up the engines of ``spec`` (seconds of CPU for dlib's models)."""
    mrz = face = visual = None
    if spec.mrz:
        from models.ocr import VISUAL_WHITELIST, MrzModelMissingError, TesseractEngine

        mrz = TesseractEngine(spec.tessdata_dir)
        mrz.warmup()
        if spec.visual:
            visual = TesseractEngine(language="eng", whitelist=VISUAL_WHITELIST)
            try:
                visual.warmup()
            except MrzModelMissingError:  # Debian's tesseract-ocr-eng is absent: the MRZ check still runs
                log.warning("no tesseract 'eng' model: the MRZ is not compared with the printed zone")
                visual = None
    if spec.face:
        from models.face import FaceEngine

        face = FaceEngine()
        face.warmup()
    return LoadedEngines(mrz, face, visual)


def build_session_analyzer(engines: LoadedEngines, claim: Any, reference_date: dt.date) -> SessionAnalyzer:
    """One session's analyzer, composed exactly as ``videoident analyze`` composes it."""
    return build_analyzer(
        mrz_engine=engines.mrz,
        visual_engine=engines.visual,
        face_engine=engines.face,
        reference_date=reference_date,
        claim=claim,
    )


class _Worker:
    """The state of one pool process: its engines, the analyzers of its sessions, attached frame buffers."""

    def __init__(self, engines: LoadedEngines) -> None:
        self.engines = engines
        self.analyzers: dict[str, SessionAnalyzer] = {}
        self.buffers: dict[str, SharedMemory] = {}

    def open(self, session_id: str, claim: Any, reference_date: dt.date) -> None:
        self.analyzers[session_id] = build_session_analyzer(self.engines, claim, reference_date)

    def frame(
        self, session_id: str, shm_name: str, shape: tuple[int, int, int], index: int, t_s: float, want_report: bool
    ) -> tuple[tuple[str, ...], dict[str, Any] | None, float]:
        started_cpu_s = time.process_time()
        analyzer = self.analyzers[session_id]
        # A private copy: the analyzer may keep a frame (best MRZ / face frame) beyond this call, and the
        # server reuses the buffer for the session's next frame.
        image = np.ndarray(shape, np.uint8, buffer=self._buffer(session_id, shm_name).buf).copy()
        observation = analyzer.process(Frame(image=image, index=index, t_s=t_s))
        guidance = tuple(g.value for g in observation.guidance)
        report = analyzer.report() if want_report else None
        return guidance, report, time.process_time() - started_cpu_s

    def _buffer(self, session_id: str, shm_name: str) -> SharedMemory:
        shm = self.buffers.get(session_id)
        if shm is None or shm.name != shm_name:  # first frame, or the server made a bigger buffer
            if shm is not None:
                shm.close()
            # Attaching registers the name with the resource tracker this process shares with the server
            # (spawn passes it on): a no-op for a name the server registered; the server unlinks the block.
            shm = SharedMemory(name=shm_name)
            self.buffers[session_id] = shm
        return shm

    def close(self, session_id: str) -> None:
        self.analyzers.pop(session_id, None)
        shm = self.buffers.pop(session_id, None)
        if shm is not None:
            shm.close()

    def handle(self, op: Op, args: Any) -> Any:
        if op is Op.OPEN:
            return self.open(*args)
        if op is Op.FRAME:
            return self.frame(*args)
        if op is Op.REPORT:
            return self.analyzers[args].report()
        if op is Op.CLOSE:
            return self.close(args)
        if op is Op.STATS:
            return time.process_time(), len(self.analyzers)
        raise ValueError(f"unknown op {op!r}")


def worker_main(conn: Connection, spec: EngineSpec) -> None:
    """The pool process's entry point (spawn context): load the engines, then serve requests in order."""
    # Ctrl-C in the server's terminal reaches the whole process group: the server stops us (pipe closed).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(OPENCV_THREADS)
    try:
        worker = _Worker(load_engines(spec))
    except Exception as exc:  # noqa: BLE001 - reported to the server, which logs it
        conn.send((READY_REQUEST_ID, Status.ERROR, type(exc).__name__))
        return
    conn.send((READY_REQUEST_ID, Status.OK, None))
    while True:
        try:
            request_id, op, args = conn.recv()
        except (EOFError, OSError):
            break
        if op is Op.STOP:
            break
        try:
            reply = (request_id, Status.OK, worker.handle(op, args))
        except Exception as exc:  # noqa: BLE001 - one broken frame must not end the process's other sessions
            reply = (request_id, Status.ERROR, type(exc).__name__)
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            break
    for session_id in list(worker.analyzers):
        worker.close(session_id)
