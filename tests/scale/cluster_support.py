"""``videoident serve --workers N`` as a subprocess for the scale-out tests and the benchmark: one address,
N workers (each names itself in ``X-Videoident-Worker``), a fresh PostgreSQL database and a Redis namespace."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from tests.hardening.harness import REPO, START_TIMEOUT_S, Server

__all__ = ["WORKER_HEADER", "ClusterServer", "fresh_connection_get", "worker_pid"]

WORKER_HEADER = "x-videoident-worker"
#: The workers' start-up line (uvicorn), once per worker that finished its lifespan start-up.
_READY_LINE = "Application startup complete."


def worker_pid(worker_id: str) -> int:
    """The process id in a worker id ``w<index>-<host>-<pid>``."""
    return int(worker_id.rsplit("-", 1)[1])


def worker_index(worker_id: str) -> str:
    return worker_id.split("-", 1)[0]


@dataclass
class ClusterServer(Server):
    """``videoident serve --workers N``; :meth:`start` returns once every worker has started."""

    workers: int = 2

    def start(self) -> None:
        assert self.process is None, "already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        ready_before = self.log_tail(10**9).count(_READY_LINE)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1
        if not self.wait_for_ready_lines(ready_before + self.workers, START_TIMEOUT_S):
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{self.workers} workers did not start in {START_TIMEOUT_S} s: {tail}")

    def wait_for_ready_lines(self, count: int, timeout_s: float) -> bool:
        """Until the log shows ``count`` worker start-ups in total (restarts add one each)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            if self.log_tail(10**9).count(_READY_LINE) >= count:
                return True
            time.sleep(0.2)
        return False

    def ready_count(self) -> int:
        return self.log_tail(10**9).count(_READY_LINE)

    def parent_pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def fresh_connection_get(url: str, headers: dict[str, str], count: int, threads: int = 8,
                         timeout_s: float = 60.0) -> list[httpx.Response]:
    """``count`` GETs, ``threads`` at a time, each on a new connection (so the kernel picks a worker each time)."""
    def one(_: int) -> httpx.Response:
        return httpx.get(url, headers={**headers, "Connection": "close"}, timeout=timeout_s)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def worker_ids(responses: Iterable[httpx.Response]) -> set[str]:
    return {r.headers[WORKER_HEADER] for r in responses if WORKER_HEADER in r.headers}
