"""``videoident serve``: run the service with uvicorn."""

from __future__ import annotations

import argparse
import logging
import re

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
    app = create_app(settings)
    for line in app.state.startup_banner(base):
        print(line, flush=True)
    logging.getLogger("uvicorn.access").addFilter(RedactCustomerTokens())
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0
