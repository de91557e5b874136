"""``videoident serve --workers N``: one parent process, N worker processes behind one address.

The parent binds the public socket (host:port) once, runs the migrations once (through the start-up banner,
which opens the database), prints the banner once, and starts N children with the ``forkserver`` start
method: a fresh server process imports the app once (:data:`PRELOAD`) and forks every worker from that, so
a worker - and a restarted one after a crash - starts without importing everything again, and inherits
no open connection of the parent.
Every child serves the public address - its own ``SO_REUSEPORT`` socket, or with ``--shared-socket`` one
socket shared by all (see :class:`Listeners`) - and a loopback socket of its own on a free port, and gets
two settings:

* ``VIDEOIDENT_WORKER_ID`` - ``w<index>-<host>-<pid>``, unique per process (a restarted child gets a new one);
* ``VIDEOIDENT_WORKER_INTERNAL_URL`` - ``http://127.0.0.1:<its own port>``, where another worker reaches it.

Unless ``VIDEOIDENT_ANALYSIS_PROCESSES`` is set, each worker's analysis pool gets ``cores // N`` processes
(at least one), so N workers do not start N pools of one process per core.

The parent restarts a child that dies (backoff :data:`RESTART_BACKOFF_MIN_S` doubling to
:data:`RESTART_BACKOFF_MAX_S`, reset after a child ran :data:`STABLE_RUN_S`), and on SIGTERM or SIGINT asks
every child to stop (SIGTERM: uvicorn finishes open requests and runs the lifespan shutdown), waits
:data:`GRACEFUL_STOP_S`, then kills what is left. State lives in PostgreSQL and Redis, never in a worker,
so a worker's death loses only its in-flight requests (and its live media sessions, see docs/scaleout.md).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import FrameType

__all__ = ["GRACEFUL_STOP_S", "Listeners", "WorkerSpec", "analysis_processes_per_worker", "check_cluster_settings",
           "reuse_port_supported", "run_workers"]

log = logging.getLogger("videoident.serve")

#: First restart of a crashed worker after 1 s ...
RESTART_BACKOFF_MIN_S = 1.0
#: ... doubling per crash in a row, up to 30 s (a worker that cannot start must not spin the CPU).
RESTART_BACKOFF_MAX_S = 30.0
#: A worker that ran this long before dying counts as a fresh crash (backoff back to the minimum).
STABLE_RUN_S = 60.0
#: How long stopping workers may take: uvicorn's graceful shutdown (open requests, lifespan, webhook
#: delivery's current pass, whose HTTP timeout is 10 s) plus margin.
GRACEFUL_STOP_S = 30.0
#: The parent notices a worker's exit at once (its sentinel); this bounds the wait for signals and restarts.
POLL_S = 0.2
#: Imported once by the fork server, so each forked worker starts with them loaded (no threads start at
#: import; models load lazily).
PRELOAD = ("uvicorn", "api.app", "api.cluster_headers", "api.commands.serve")
#: The kernel's accept queue per listening socket (uvicorn's default backlog).
LISTEN_BACKLOG = 2048


class ClusterConfigError(ValueError):
    """``--workers N`` with N > 1 needs PostgreSQL and Redis; the message says what is missing."""


def check_cluster_settings(database_url: str, redis_url: str | None) -> None:
    """Refuse a multi-worker start on SQLite or without Redis (each worker would keep its own limits)."""
    if not database_url.startswith("postgresql"):
        raise ClusterConfigError(
            "--workers > 1 needs PostgreSQL (VIDEOIDENT_DATABASE_URL=postgresql+psycopg://...): "
            "the embedded SQLite database is for one process")
    if not redis_url:
        raise ClusterConfigError(
            "--workers > 1 needs Redis (VIDEOIDENT_REDIS_URL=redis://host:6379/0): rate limits and live "
            "sessions are shared across workers through it")


@dataclass(frozen=True)
class WorkerSpec:
    """What a child needs besides the environment it inherits: its index and the parent's overrides."""

    index: int
    host: str
    port: int
    public_base_url: str
    #: The worker's analysis pool size when ``VIDEOIDENT_ANALYSIS_PROCESSES`` is unset (see
    #: :func:`analysis_processes_per_worker`).
    analysis_processes: int = 1


def analysis_processes_per_worker(workers: int, cores: int | None) -> int:
    """The cores shared out among the workers' analysis pools: ``max(1, cores // workers)``.

    Each worker has its own pool of analysis processes, by default one per core; N workers would start N
    times that on one machine. Used only when ``VIDEOIDENT_ANALYSIS_PROCESSES`` is not set."""
    return max(1, (cores or 1) // workers)


def bind_public_socket(host: str, port: int, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A socket bound to ``host:port`` (IPv6 if ``host`` is an IPv6 literal), listening unless ``listen`` is
    false; with ``reuse_port`` one of a ``SO_REUSEPORT`` group, among whose *listening* members the kernel
    spreads new connections by a hash of their addresses."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


class Listeners:
    """The public address as listening sockets: one per worker slot (``reuse_port``, the default where
    the OS has ``SO_REUSEPORT``) or one shared by every worker.

    *Per slot*: the kernel spreads new connections evenly over the workers, also a handful of long-lived
    keep-alive connections opened at once (one shared socket hands them all to whichever worker wakes
    first; measured in docs/scaleout.md). When a worker dies, :meth:`release` closes its socket, so new
    connections go to the others at once (connections that were queued on it, not yet accepted, are reset,
    like the dead worker's open ones); its restart binds a fresh one, which joins once the new worker is
    ready. Until the first worker is ready, connections are refused. *Shared*: the surviving workers take
    everything at once, and connections wait in the queue during the start-up, but the spread is uneven."""

    def __init__(self, host: str, port: int, slots: list[int], reuse_port: bool) -> None:
        self.host, self.port, self.reuse_port = host, port, reuse_port
        self._shared = None if reuse_port else bind_public_socket(host, port)
        self._per_slot: dict[int, socket.socket] = {}
        try:
            for index in slots if reuse_port else ():
                self.for_slot(index)
        except OSError:
            self.close()
            raise

    def for_slot(self, index: int) -> socket.socket:
        if self._shared is not None:
            return self._shared
        sock = self._per_slot.get(index)
        if sock is None:
            # Bound, not listening: the worker's server listens once its start-up is done, so the kernel
            # never queues a connection at a worker that cannot answer yet (a restart takes seconds).
            sock = self._per_slot[index] = bind_public_socket(self.host, self.port, reuse_port=True, listen=False)
        return sock

    def release(self, index: int) -> None:
        """The slot's worker is gone: stop routing new connections to it (per-slot sockets only)."""
        sock = self._per_slot.pop(index, None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for index in list(self._per_slot):
            self.release(index)
        if self._shared is not None:
            self._shared.close()


def _stop_when_orphaned(supervisor: Connection) -> None:  # pragma: no cover - runs in the child
    """Daemon thread: SIGTERM to this process (uvicorn's graceful stop) once the supervisor is gone.

    ``supervisor`` is the read end of a pipe whose only write end the supervisor holds and never writes to:
    the read returns (EOF) exactly when the supervisor process has ended, however it ended. (The worker's
    parent process is the fork server, which outlives the supervisor, so ``getppid`` cannot tell.)"""
    with contextlib.suppress(EOFError, OSError):
        supervisor.recv_bytes()
    log.error("the supervising parent is gone; stopping this worker")
    os.kill(os.getpid(), signal.SIGTERM)


def worker_main(spec: WorkerSpec, public: socket.socket,
                supervisor: Connection) -> None:  # pragma: no cover - runs in the child
    """A child: serve ``public`` and a loopback socket of its own with a fresh app."""
    import threading

    import uvicorn

    threading.Thread(target=_stop_when_orphaned, args=(supervisor,), name="parent-watch", daemon=True).start()

    from api.app import create_app
    from api.cluster_headers import WorkerHeaderMiddleware
    from api.commands.serve import RedactCustomerTokens
    from videoident.settings import Settings

    internal = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    internal.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    internal.bind(("127.0.0.1", 0))
    internal.listen(LISTEN_BACKLOG)
    internal_port = internal.getsockname()[1]
    worker_id = f"w{spec.index}-{socket.gethostname()}-{os.getpid()}"
    os.environ["VIDEOIDENT_WORKER_ID"] = worker_id
    os.environ["VIDEOIDENT_WORKER_INTERNAL_URL"] = f"http://127.0.0.1:{internal_port}"
    os.environ.setdefault("VIDEOIDENT_ANALYSIS_PROCESSES", str(spec.analysis_processes))
    settings = Settings()
    settings.host, settings.port, settings.public_base_url = spec.host, spec.port, spec.public_base_url
    app = create_app(settings)
    app.add_middleware(WorkerHeaderMiddleware, worker_id=worker_id)
    logging.getLogger("uvicorn.access").addFilter(RedactCustomerTokens())
    config = uvicorn.Config(app, host=spec.host, port=spec.port, log_level="info")
    uvicorn.Server(config).run(sockets=[public, internal])


@dataclass
class _Slot:
    spec: WorkerSpec
    process: multiprocessing.process.BaseProcess | None = None
    started_s: float = 0.0
    crashes_in_a_row: int = 0
    restart_at_s: float | None = None


class _Supervisor:
    def __init__(self, specs: list[WorkerSpec], public: Listeners) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(PRELOAD))
        self._slots = [_Slot(spec) for spec in specs]
        self._public = public
        self._stopping = False
        # Workers hold the read end; the write end lives (and dies) only with this process.
        self._alive_r, self._alive_w = self._context.Pipe(duplex=False)

    def _start(self, slot: _Slot) -> None:
        try:
            sock = self._public.for_slot(slot.spec.index)
        except OSError as exc:  # the port was taken meanwhile: try again after the backoff
            log.error("worker %d: cannot listen on %s:%d: %s", slot.spec.index, self._public.host,
                      self._public.port, exc)
            slot.restart_at_s = time.monotonic() + RESTART_BACKOFF_MAX_S
            return
        process = self._context.Process(target=worker_main, args=(slot.spec, sock, self._alive_r),
                                        name=f"videoident-worker-{slot.spec.index}", daemon=False)
        process.start()
        slot.process, slot.started_s, slot.restart_at_s = process, time.monotonic(), None
        log.info("worker %d started (pid %s)", slot.spec.index, process.pid)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("%s: stopping the workers", signal.Signals(signum).name)
        self._stopping = True

    def _watch(self, slot: _Slot, now_s: float) -> None:
        if slot.process is not None and not slot.process.is_alive():
            ran_s = now_s - slot.started_s
            slot.crashes_in_a_row = 1 if ran_s >= STABLE_RUN_S else slot.crashes_in_a_row + 1
            delay_s = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_MIN_S * 2 ** (slot.crashes_in_a_row - 1))
            log.error("worker %d (pid %s) exited with %s after %.1f s; restarting in %.0f s", slot.spec.index,
                      slot.process.pid, slot.process.exitcode, ran_s, delay_s)
            slot.process.close()
            self._public.release(slot.spec.index)
            slot.process, slot.restart_at_s = None, now_s + delay_s
        if slot.process is None and slot.restart_at_s is not None and now_s >= slot.restart_at_s:
            self._start(slot)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self._slots:
                self._start(slot)
            while not self._stopping:
                now_s = time.monotonic()
                for slot in self._slots:
                    self._watch(slot, now_s)
                # Wakes as soon as a worker exits (its sentinel), else after POLL_S (restarts, signals).
                sentinels = [slot.process.sentinel for slot in self._slots if slot.process is not None]
                multiprocessing.connection.wait(sentinels, timeout=POLL_S)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _stop_all(self) -> None:
        running = [s.process for s in self._slots if s.process is not None and s.process.is_alive()]
        for process in running:
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline_s = time.monotonic() + GRACEFUL_STOP_S
        for process in running:
            process.join(max(0.0, deadline_s - time.monotonic()))
            if process.is_alive():
                log.warning("worker pid %s did not stop in %.0f s; killing it", process.pid, GRACEFUL_STOP_S)
                process.kill()
                process.join()


def run_workers(specs: list[WorkerSpec], public: Listeners) -> int:
    """Supervise one child per spec until SIGTERM/SIGINT; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     [supervisor] %(message)s")
    return _Supervisor(specs, public).run()
