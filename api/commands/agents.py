"""``videoident agents``: console accounts.

``videoident agents create NAME --role agent|supervisor`` asks for the password (or reads it from stdin
with ``--password-stdin``) and prints the TOTP provisioning URI **once**: scan it into an authenticator
app (or paste it into one). ``videoident agents unlock NAME`` lifts a lockout after failed logins.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videoident.agents import AgentStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("agents", help="agent console accounts (create, unlock)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create an account; prints its TOTP provisioning URI once")
    create.add_argument("name", help="login name (letters, digits, '.', '-', '_')")
    create.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.set_defaults(handler=run_create)
    unlock = actions.add_parser("unlock", help="lift a lockout after failed logins")
    unlock.add_argument("name")
    unlock.set_defaults(handler=run_unlock)


def _store() -> AgentStore:
    from videoident.agents import AgentStore
    from videoident.db import make_engine, make_sessionmaker
    from videoident.migrations import migrate
    from videoident.settings import Settings

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return AgentStore.from_settings(make_sessionmaker(engine), settings)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def run_create(args: argparse.Namespace) -> int:
    from videoident.agents import AgentRole

    password = _read_password(args.password_stdin)
    try:
        created = _store().create(args.name, AgentRole(args.role), password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {created.agent.role.value} {created.agent.name} ({created.agent.id})")
    print("TOTP provisioning URI (shown once; add it to an authenticator app, then clear your terminal):")
    print(created.provisioning_uri)
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    from videoident import audit

    try:
        _store().unlock(args.name, audit.SYSTEM)
    except LookupError:
        print(f"error: no agent named {args.name!r}", file=sys.stderr)
        return 2
    print(f"unlocked {args.name}")
    return 0
