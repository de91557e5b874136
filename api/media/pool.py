"""Session analysis in a bounded pool of worker processes, off the event loop's GIL.

The analyzer is stateful per session, so each live session is pinned to one pool process (the one holding
the fewest sessions when it starts), which keeps that session's :class:`SessionAnalyzer` in a dict keyed
by session id until the session closes. The server process keeps the sampler (one thread per session,
newest frame only, drops counted): the sampler's thread copies the BGR frame into the session's
shared-memory block, sends a small request down the process's pipe and waits for the guidance (and, once
a second, the report). At most one frame per session is ever in flight, so nothing queues without bound.

A pool process that dies (kill -9, a crash in native code) does not take the server down: its reader
thread fails the waiting requests, the pool starts a replacement, and each of its sessions re-opens on its
next frame with a fresh analyzer (its state is lost: reported in :meth:`PooledAnalyzer.stats` and logged
with the session id's prefix only; the checks then need more frames).

Processes use the ``spawn`` context (no fork of a server holding threads, sockets and an event loop) and
load the engines once, at their start.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.media.pool_worker import READY_REQUEST_ID, EngineSpec, Op, Status, worker_main
from pipelines.frame import Frame

__all__ = [
    "AnalysisSettings",
    "AnalysisPool",
    "PooledAnalyzer",
    "AnalysisProcessDied",
    "AnalysisFailed",
    "default_processes",
]

log = logging.getLogger(__name__)

#: Start-up of a pool process: interpreter, OpenCV, dlib's models (~3 s CPU each on this machine) and
#: tesseract; 120 s leaves room for a 2-core box shared with several builds (load 20 measured in CI).
START_TIMEOUT_S = 120.0
#: The longest one frame may take before the waiting sampler thread gives up on it: a 720p frame with
#: every engine took up to ~1 s of wall time under load 20 (docs/live.md); a replacement process may first
#: have to load its engines (START_TIMEOUT_S).
FRAME_TIMEOUT_S = START_TIMEOUT_S + 30.0
#: How long close() waits for a process to leave on its own before it is terminated.
STOP_TIMEOUT_S = 5.0
#: How long closing a session waits for its frame in flight (a frame takes well under 1 s of CPU).
CLOSE_WAIT_S = 5.0
#: The session's report (every check serialised) is asked for with a frame at most this often.
REPORT_INTERVAL_S = 1.0


def default_processes() -> int:
    """One pool process per core: analysis is CPU-bound and each process runs one frame at a time."""
    return os.cpu_count() or 1


class AnalysisSettings(BaseSettings):
    """``VIDEOIDENT_ANALYSIS_PROCESSES``: the size of the analysis pool (default: one per core); ``0``
    analyses in a thread of the server process (development and tests only: it shares the GIL with the
    event loop)."""

    model_config = SettingsConfigDict(env_prefix="VIDEOIDENT_", extra="ignore", env_ignore_empty=True)

    analysis_processes: int | None = None

    def resolved_processes(self) -> int:
        if self.analysis_processes is None:
            return default_processes()
        if self.analysis_processes < 0:
            raise ValueError("VIDEOIDENT_ANALYSIS_PROCESSES must be 0 (in-thread) or a positive number")
        return self.analysis_processes


class AnalysisProcessDied(RuntimeError):
    """The pool process analysing this session ended; the session's analysis restarts without its state."""


class AnalysisFailed(RuntimeError):
    """The pool process reported an error (its type name only: a frame's content never leaves it)."""


class _Process:
    """One pool process seen from the server: its pipe, the requests waiting for a reply, its sessions."""

    _ids = itertools.count(READY_REQUEST_ID + 1)

    def __init__(self, slot: int, spec: EngineSpec, on_exit: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self.slot = slot
        self.process = ctx.Process(
            target=worker_main, args=(child, spec), name=f"videoident-analysis-{slot}", daemon=True
        )
        self.process.start()
        child.close()  # ours is closed: the reader sees EOF when the process dies
        self.conn: Connection = parent
        self.ready: Future[None] = Future()
        self.sessions: set[str] = set()
        self.alive = True
        #: A weak reference to the pool's handler: a pool nobody uses any more can be collected (and stop).
        self._on_exit: weakref.WeakMethod[Any] = weakref.WeakMethod(on_exit)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._reader = threading.Thread(target=self._read, name=f"analysis-reader-{slot}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def call(self, op: Op, args: Any) -> Future[Any]:
        """Send a request; the future gets the reply (or :class:`AnalysisProcessDied`)."""
        future: Future[Any] = Future()
        with self._lock:
            if not self.alive:
                future.set_exception(AnalysisProcessDied(f"analysis process {self.slot} ended"))
                return future
            request_id = next(self._ids)
            self._pending[request_id] = future
        try:
            with self._send_lock:
                self.conn.send((request_id, op, args))
        except (OSError, ValueError):  # the process is gone (broken pipe) or we closed the pipe
            with self._lock:
                self._pending.pop(request_id, None)
            if not future.done():
                future.set_exception(AnalysisProcessDied(f"analysis process {self.slot} ended"))
        return future

    def stop(self) -> None:
        """Ask the process to leave, wait, then terminate it if it did not. A process still loading its
        engines reads no requests yet: it is terminated at once (an app stopped right after its start)."""
        if not self.ready.done():
            self.process.terminate()
        try:
            with self._send_lock:
                self.conn.send((0, Op.STOP, None))
        except (OSError, ValueError):
            pass
        self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_TIMEOUT_S)
        self.conn.close()
        self._reader.join(STOP_TIMEOUT_S)

    def _read(self) -> None:
        try:
            while True:
                request_id, status, result = self.conn.recv()
                if request_id == READY_REQUEST_ID:
                    if status is Status.OK:
                        self.ready.set_result(None)
                    else:
                        self.ready.set_exception(AnalysisFailed(str(result)))
                    continue
                with self._lock:
                    future = self._pending.pop(request_id, None)
                if future is None:
                    continue
                if status is Status.OK:
                    future.set_result(result)
                else:
                    future.set_exception(AnalysisFailed(str(result)))
        except (EOFError, OSError, TypeError):  # TypeError: the pipe was closed under recv() by stop()
            pass
        self.process.join(STOP_TIMEOUT_S)  # the pipe's end means the process is gone: reap it (exit code)
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        died = AnalysisProcessDied(f"analysis process {self.slot} ended")
        for future in pending.values():
            if not future.done():
                future.set_exception(died)
        if not self.ready.done():
            self.ready.set_exception(died)
        handler = self._on_exit()
        if handler is not None:
            handler(self)


class AnalysisPool:
    """``processes`` pool processes with the engines of ``spec``; :meth:`start` spawns them and waits until
    each has loaded its engines; :meth:`open` pins a new session to the least busy one."""

    def __init__(self, spec: EngineSpec, processes: int) -> None:
        if processes < 1:
            raise ValueError("an analysis pool needs at least one process")
        self.spec = spec
        self.size = processes
        self._slots: list[_Process | None] = [None] * processes
        self._lock = threading.Lock()
        self._closed = False
        #: Pool processes that ended unexpectedly and were replaced.
        self.replaced = 0
        # Stops the processes when the pool is closed, or collected unclosed (e.g. a factory dropped by a test).
        self._finalizer = weakref.finalize(self, _stop_all, self._slots)
        #: Set when a process could not load its engines: the pool stops replacing processes (a broken
        #: installation would otherwise restart them forever) and says why on every open.
        self.failure: str | None = None

    def start(self, wait: bool = True, timeout_s: float = START_TIMEOUT_S) -> None:
        """Spawn the missing processes; with ``wait``, block until every one has loaded its engines.

        Not waiting is safe for the event loop: the engines load in the pool processes, so (unlike the
        in-thread mode) nothing holds the server's GIL; a session opened meanwhile waits in its own
        thread until its process is ready."""
        with self._lock:
            self._fill_slots_locked(replace_dead=False)
            processes = [p for p in self._slots if p is not None]
        if not wait:
            return
        deadline = time.monotonic() + timeout_s
        for process in processes:
            process.ready.result(max(0.0, deadline - time.monotonic()))

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._slots if p is not None and p.alive and p.pid is not None]

    def cpu_s(self) -> float:
        """CPU seconds used so far by the live pool processes (all their threads)."""
        with self._lock:
            processes = [p for p in self._slots if p is not None and p.alive]
        total = 0.0
        for process in processes:
            try:
                total += process.call(Op.STATS, None).result(FRAME_TIMEOUT_S)[0]
            except (AnalysisProcessDied, AnalysisFailed):
                continue
        return total

    def _fill_slots_locked(self, replace_dead: bool) -> None:
        """Spawn a process into every empty slot (and, with ``replace_dead``, replace dead ones). Holds the lock."""
        if self._closed:
            raise RuntimeError("the analysis pool is closed")
        if self.failure is not None:
            raise AnalysisFailed(self.failure)
        for slot, current in enumerate(self._slots):
            if current is None:
                self._slots[slot] = _Process(slot, self.spec, self._on_exit)
            elif replace_dead and not current.alive:
                self._replace(current)

    def _pick(self, session_id: str) -> _Process:
        with self._lock:
            self._fill_slots_locked(replace_dead=True)
            if self.failure is not None:
                raise AnalysisFailed(self.failure)
            processes = [p for p in self._slots if p is not None]
            chosen = min(processes, key=lambda p: (len(p.sessions), p.slot))
            chosen.sessions.add(session_id)
            return chosen

    def _release(self, process: _Process, session_id: str) -> None:
        with self._lock:
            process.sessions.discard(session_id)

    def _on_exit(self, process: _Process) -> None:
        with self._lock:
            if not self._closed:
                self._replace(process)

    def _replace(self, process: _Process) -> None:
        """Start a process in place of ``process``, which ended (called with the lock held, once per ended
        process: from its reader thread or from a session that noticed first)."""
        if self._slots[process.slot] is not process:
            return
        error = process.ready.exception() if process.ready.done() else None
        if isinstance(error, AnalysisFailed):
            self.failure = f"an analysis process could not load its engines: {error}"
            log.error("%s; analysis is unavailable", self.failure)
            self._slots[process.slot] = None
            return
        self.replaced += 1
        log.warning(
            "analysis process %d (pid %s) ended with exit code %s; starting a replacement (%d sessions "
            "restart their analysis)",
            process.slot,
            process.pid,
            process.process.exitcode,
            len(process.sessions),
        )
        self._slots[process.slot] = _Process(process.slot, self.spec, self._on_exit)

    def open(self, session_id: str, claim: Any = None, reference_date: dt.date | None = None) -> PooledAnalyzer:
        """A new session's analyzer, pinned to one pool process (blocks until that process has it)."""
        return PooledAnalyzer(self, session_id, claim, reference_date or dt.datetime.now(dt.UTC).date())

    def close(self) -> None:
        """Stop every pool process (their sessions' analyzers go with them)."""
        with self._lock:
            self._closed = True
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed


def _stop_all(slots: list[_Process | None]) -> None:
    """Empty ``slots`` (in place: the pool's own list) and stop the processes that were in it."""
    processes = [p for p in slots if p is not None]
    slots[:] = [None] * len(slots)
    for process in processes:
        process.stop()


def _unlink(shm: SharedMemory) -> None:
    shm.close()
    shm.unlink()


class PooledAnalyzer:
    """A :class:`api.media.session.LiveAnalyzer` whose state lives in one pool process.

    ``observe`` is called from the session's sampler thread and blocks it until the frame is analysed, so a
    session has at most one frame in flight and the sampler's newest-frame slot does the dropping.
    Frames go through a shared-memory block of this session (BGR uint8 (H, W, 3), reallocated when a
    bigger frame arrives); only the shape, index and time travel down the pipe."""

    def __init__(self, pool: AnalysisPool, session_id: str, claim: Any, reference_date: dt.date) -> None:
        self._pool = pool
        self.session_id = session_id
        self._claim, self._reference_date = claim, reference_date
        self._process: _Process | None = None
        self._shm: SharedMemory | None = None
        self._shm_finalizer: Any = lambda: None
        self._guidance: tuple[str, ...] = ()
        self._report: Mapping[str, Any] | None = None
        self._report_at = 0.0
        self._report_frames = -1  # self.frames when the cached report was made
        self._lock = threading.Lock()  # held by observe() while its frame is in flight
        self._close_lock = threading.Lock()
        self._closed = False
        #: Times this session's analysis restarted in a new pool process (its state lost each time).
        self.restarts = 0
        #: CPU seconds the pool process spent on this session's frames.
        self.worker_cpu_s = 0.0
        #: Frames analysed in the pool for this session.
        self.frames = 0
        self._open()

    def _open(self) -> None:
        process = self._pool._pick(self.session_id)  # noqa: SLF001 - the pool's own analyzer
        self._process = process
        process.call(Op.OPEN, (self.session_id, self._claim, self._reference_date)).result(FRAME_TIMEOUT_S)
        self._report = None

    def _lost(self, process: _Process) -> None:
        """The session's process ended: forget it; the next frame re-opens the session elsewhere."""
        self._pool._release(process, self.session_id)  # noqa: SLF001
        self._process = None
        self.restarts += 1
        # The id's prefix only (as in thread names): enough to find the session, nothing about the person.
        log.warning(
            "analysis of live session %s restarts in a new process: its analysis state is lost",
            self.session_id[:8],
        )

    def _frame_buffer(self, nbytes: int) -> SharedMemory:
        shm = self._shm
        if shm is None or shm.size < nbytes:
            self._shm_finalizer()
            shm = self._shm = SharedMemory(create=True, size=nbytes)
            # Unlinked on close(), or when an analyzer nobody closed is collected.
            self._shm_finalizer = weakref.finalize(self, _unlink, shm)
        return shm

    def observe(self, frame: Frame) -> None:
        with self._lock:
            if self._closed:
                return
            process = self._process
            if process is None or not process.alive:
                if process is not None:
                    self._lost(process)
                self._open()
                process = self._process
            assert process is not None
            image = frame.image
            shm = self._frame_buffer(image.nbytes)
            np.ndarray(image.shape, np.uint8, buffer=shm.buf)[...] = image
            now = time.monotonic()
            want_report = self._report is None or now - self._report_at >= REPORT_INTERVAL_S
            request = (self.session_id, shm.name, image.shape, frame.index, frame.t_s, want_report)
            try:
                guidance, report, cpu_s = process.call(Op.FRAME, request).result(FRAME_TIMEOUT_S)
            except AnalysisProcessDied:
                self._lost(process)
                raise
            self._guidance = tuple(guidance)
            self.worker_cpu_s += cpu_s
            self.frames += 1
            if report is not None:
                self._report, self._report_at, self._report_frames = report, now, self.frames

    def guidance(self) -> Sequence[str]:
        return self._guidance

    def report(self) -> Mapping[str, Any]:
        """The report after the latest frame: the one that came with it, else asked for now."""
        with self._lock:
            if self._report is None or self._report_frames != self.frames:
                if self._process is None or not self._process.alive:
                    if self._process is not None:
                        self._lost(self._process)
                    self._open()
                assert self._process is not None
                self._report = self._process.call(Op.REPORT, self.session_id).result(FRAME_TIMEOUT_S)
                self._report_at, self._report_frames = time.monotonic(), self.frames
            return self._report

    def stats(self) -> dict[str, Any]:
        process = self._process
        return {
            "mode": "process",
            "pid": process.pid if process is not None else None,
            "restarts": self.restarts,
            "state_lost": self.restarts > 0,
            "frames": self.frames,
            "worker_cpu_s": round(self.worker_cpu_s, 3),
        }

    def close(self) -> None:
        """Drop the session's analyzer in its process and free the frame buffer. Does not wait more than
        ``CLOSE_WAIT_S`` for a frame in flight (a hung process must not hold up the end of a call): the
        buffer is then freed when this analyzer is collected."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            process = self._process
        if process is not None:
            process.call(Op.CLOSE, self.session_id)  # no wait: the reply only confirms
            self._pool._release(process, self.session_id)  # noqa: SLF001
        if self._lock.acquire(timeout=CLOSE_WAIT_S):
            try:
                self._process = None
                self._shm_finalizer()
                self._shm = None
            finally:
                self._lock.release()
