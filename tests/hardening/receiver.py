"""A bank's webhook receiver on loopback for the tests: records every delivery's raw body and headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Delivery", "Receiver", "receiver"]


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]

    @property
    def signature(self) -> str:
        return self.headers["videoident-signature"]

    @property
    def event_id(self) -> str:
        return self.headers["videoident-event-id"]


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        deliveries, lock = self.deliveries, self._lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    deliveries.append(Delivery(body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"

    def wait_for(self, predicate: object, timeout_s: float = 60.0) -> Delivery:
        """The first delivery whose parsed event satisfies ``predicate(event_dict)``."""
        import json

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = [d for d in self.deliveries if predicate(json.loads(d.body))]  # type: ignore[operator]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no matching delivery in {timeout_s} s ({len(self.deliveries)} received)")


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    thread = threading.Thread(target=rec.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.httpd.shutdown()
        rec.httpd.server_close()
        thread.join(5)
