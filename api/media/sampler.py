"""The frame sampler: hands the newest frame to a worker thread at a capped rate, dropping stale ones.

The event loop only ever swaps one slot (O(1), never blocks, never queues): when analysis is slower than
the camera, the frame waiting in the slot is replaced by a newer one and counted as dropped. Analysis runs
in the sampler's own thread, so OpenCV / OCR / dlib work (which releases the GIL for most of its time)
never stalls the WebRTC transports of other sessions. One thread per session keeps a session's frames
in order for its stateful analyzer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["SamplerStats", "NewestFrameSampler", "DEFAULT_ANALYSED_FPS"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Frames analysed per second and session. 5 fps samples a 30°-in-1-second tilt every ~6°, enough for the
#: tilt range and hologram response of issue 4, and leaves CPU for several sessions on 2 cores (measured
#: with api/benchmarks/live_media.py, see docs/live.md).
DEFAULT_ANALYSED_FPS = 5.0


#: Frame times are floats from RTP clocks: 3/30 s may come out a hair under 0.1 s.
RATE_SLACK_S = 1e-6
#: Arrival jitter tolerated when a frame is due: a 15 fps camera's third frame after a due one arrives
#: 200 ms +- a few ms later; without this tolerance every fourth frame would be taken (3.75 fps, measured
#: with api/benchmarks/live_media.py --transport-only before this was added).
DUE_JITTER_S = 0.010


@dataclass(frozen=True)
class SamplerStats:
    """Counters since the sampler started. ``due``: frames the rate asked to analyse; ``dropped``: due
    frames replaced by a newer one before the worker got to them; ``busy_s``: wall time spent analysing;
    ``cpu_s``: CPU time of the worker thread spent analysing (excludes waiting for a core)."""

    offered: int
    due: int
    analysed: int
    dropped: int
    errors: int
    busy_s: float
    cpu_s: float = 0.0

    @property
    def dropped_ratio(self) -> float:
        return self.dropped / self.due if self.due else 0.0

    def to_json(self) -> dict[str, float]:
        return {
            "offered": self.offered,
            "due": self.due,
            "analysed": self.analysed,
            "dropped": self.dropped,
            "errors": self.errors,
            "busy_s": round(self.busy_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "dropped_ratio": round(self.dropped_ratio, 4),
        }


class NewestFrameSampler(Generic[T]):
    """Offer frames from the event loop; ``analyse(item)`` runs in the worker thread for the newest due one.

    ``analysed_fps`` caps the rate: a frame is *due* when frame time ``t_s`` reached the next slot of a
    ``1/analysed_fps`` schedule (within ``DUE_JITTER_S``). Exceptions in ``analyse`` are counted and logged by type
    only (a frame's content must never reach a log)."""

    def __init__(
        self, analyse: Callable[[T], None], analysed_fps: float = DEFAULT_ANALYSED_FPS, name: str = ""
    ) -> None:
        if analysed_fps <= 0:
            raise ValueError("analysed_fps must be positive")
        self._analyse = analyse
        self._interval_s = 1.0 / analysed_fps
        self._cond = threading.Condition()
        self._slot: T | None = None
        self._closed = False
        self._next_due_t_s: float | None = None
        self._offered = self._due = self._analysed = self._dropped = self._errors = 0
        self._busy_s = 0.0
        self._cpu_s = 0.0
        self._thread = threading.Thread(target=self._run, name=f"sampler-{name}", daemon=True)
        self._thread.start()

    def offer(self, item: T, t_s: float) -> bool:
        """Called for every received frame; True when the frame was put in the slot. Never blocks for long:
        the lock only guards a pointer swap and counters."""
        with self._cond:
            if self._closed:
                return False
            self._offered += 1
            next_due = self._next_due_t_s
            if next_due is not None and next_due - self._interval_s <= t_s < next_due - DUE_JITTER_S:
                return False
            # A due frame. On schedule: the next one is one interval later (so jitter does not lower the
            # rate); behind schedule, or a t_s that went backwards (a reconnect): restart from this frame.
            if next_due is None or t_s < next_due - self._interval_s or t_s - next_due > self._interval_s:
                self._next_due_t_s = t_s + self._interval_s
            else:
                self._next_due_t_s = next_due + self._interval_s
            self._due += 1
            if self._slot is not None:
                self._dropped += 1
            self._slot = item
            self._cond.notify()
            return True

    def stats(self) -> SamplerStats:
        with self._cond:
            return SamplerStats(
                self._offered, self._due, self._analysed, self._dropped, self._errors, self._busy_s, self._cpu_s
            )

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking frames, let the frame being analysed finish, and join the worker."""
        with self._cond:
            self._closed = True
            self._slot = None
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                item: T = self._slot  # type: ignore[assignment]  # not None: checked above
                self._slot = None
            started, started_cpu = time.perf_counter(), time.thread_time()
            failed = False
            try:
                self._analyse(item)
            except Exception as exc:  # noqa: BLE001 - one broken frame must not end the session's analysis
                failed = True
                log.warning("frame analysis failed: %s", type(exc).__name__)
            with self._cond:
                self._busy_s += time.perf_counter() - started
                self._cpu_s += time.thread_time() - started_cpu
                if failed:
                    self._errors += 1
                else:
                    self._analysed += 1
