"""``videoident serve``: run the service with uvicorn; ``--workers N`` runs N processes behind one address
(PostgreSQL and Redis required; see :mod:`api.commands.serve_workers` and docs/scaleout.md)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videoident.settings import Settings

#: The customer's link token is a bearer credential for their session: never let it reach a log.
_CUSTOMER_TOKEN_PATH = re.compile(r"/ident/[^/?#\s]+")


class RedactCustomerTokens(logging.Filter):
    """Replaces ``/ident/<token>`` in uvicorn's access-log lines (args: client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CUSTOMER_TOKEN_PATH.sub("/ident/<token>", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the service (REST API, customer page, agent console)")
    parser.add_argument("--host", help="bind address (default: VIDEOIDENT_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: VIDEOIDENT_PORT or 8000)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes behind the one address (default 1; N > 1 needs "
                             "VIDEOIDENT_DATABASE_URL on PostgreSQL and VIDEOIDENT_REDIS_URL)")
    parser.add_argument("--shared-socket", action="store_true",
                        help="with --workers N: one listening socket shared by all workers instead of one "
                             "SO_REUSEPORT socket each (uneven spread of keep-alive connections; see "
                             "docs/scaleout.md)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from videoident.settings import Settings

    settings = Settings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    base = f"http://{settings.host}:{settings.port}"
    if "public_base_url" not in settings.model_fields_set:
        # Unset: links (customer URL, TAN mails) point where this process listens, not at the default port.
        settings.public_base_url = base
    if args.workers < 1:
        print("videoident serve: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _run_workers(settings, base, args.workers, args.shared_socket)
    app = create_app(settings)
    for line in app.state.startup_banner(base):
        print(line, flush=True)
    logging.getLogger("uvicorn.access").addFilter(RedactCustomerTokens())
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def _run_workers(settings: Settings, base: str, workers: int, shared_socket: bool) -> int:
    """Check the settings, bind the socket, migrate and print the banner once, then supervise the workers."""
    from api.app import create_app
    from api.commands.serve_workers import (
        ClusterConfigError,
        Listeners,
        WorkerSpec,
        analysis_processes_per_worker,
        check_cluster_settings,
        reuse_port_supported,
        run_workers,
    )
    from videoident.redis_client import connect

    try:
        check_cluster_settings(settings.resolved_database_url, settings.redis_url)
    except ClusterConfigError as exc:
        print(f"videoident serve: {exc}", file=sys.stderr)
        return 2
    client = connect(settings)
    try:
        client.ping()
    except Exception as exc:  # any failure to reach Redis is reported the same way
        print(f"videoident serve: Redis at VIDEOIDENT_REDIS_URL does not answer: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    try:
        public = Listeners(settings.host, settings.port, list(range(1, workers + 1)),
                           reuse_port=reuse_port_supported() and not shared_socket)
    except OSError as exc:
        print(f"videoident serve: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)  # the banner opens the database: the migrations run here, once
    for line in app.state.startup_banner(base):
        print(line, flush=True)
    print(f"  workers:        {workers} (PostgreSQL + Redis; X-Videoident-Worker names the one answering)",
          flush=True)
    state = getattr(app.state, "bank", None)
    if state is not None:  # the workers open their own connections
        state.engine.dispose()
        if state.redis is not None:
            state.redis.close()
    pool = analysis_processes_per_worker(workers, os.cpu_count())
    specs = [WorkerSpec(index, settings.host, settings.port, settings.public_base_url, pool)
             for index in range(1, workers + 1)]
    try:
        return run_workers(specs, public)
    finally:
        public.close()
