"""``videoident tenants``: create banks and manage their API keys and webhook secrets.

``create NAME --json`` prints ``{"tenant_id", "name", "api_key", "webhook_secret"}``: the only time the key
and the secret are shown. ``list``, ``add-key``, ``revoke KEY_ID``, ``rotate-secret TENANT`` do the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tenants", help="banks (tenants): create, list, API keys, webhook secrets")
    sub = parser.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a bank and print its API key and webhook secret (once)")
    create.add_argument("name", help="short unique name, e.g. 'acme-bank'")
    create.add_argument("--display-name", help="the name customers read in the TAN message (default: NAME)")
    create.add_argument("--profile", default="gwg_de",
                        help="masking profile: default, gwg_de, wwft_nl, crypto_exchange (default: gwg_de)")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(handler=_create)

    listing = sub.add_parser("list", help="list banks with their API keys (ids only)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    add_key = sub.add_parser("add-key", help="issue another API key for a bank (for rotation)")
    add_key.add_argument("tenant", help="tenant id or name")
    add_key.add_argument("--label", default="", help="what the key is for")
    add_key.add_argument("--json", action="store_true", help="print JSON")
    add_key.set_defaults(handler=_add_key)

    revoke = sub.add_parser("revoke", help="revoke an API key by its id (key_...)")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)

    rotate = sub.add_parser("rotate-secret", help="new webhook secret; the old one signs for 24 h more")
    rotate.add_argument("tenant", help="tenant id or name")
    rotate.add_argument("--json", action="store_true", help="print JSON")
    rotate.set_defaults(handler=_rotate)


@contextmanager
def _bank() -> Iterator[Any]:
    """The bank state (database, core service, secret box) from the environment's settings; disposed after."""
    from api.deps import open_bank
    from videoident.settings import Settings

    state = open_bank(Settings())
    try:
        yield state
    finally:
        state.engine.dispose()


class _UnknownTenant(LookupError):
    pass


@contextmanager
def _tenant_transaction(ref: str) -> Iterator[tuple[Any, Any, str]]:
    """``(state, db, tenant_id)`` for the tenant ``ref`` (id or name); ``db`` commits when the block ends
    without an error. Raises :class:`_UnknownTenant` when there is no such tenant."""
    with _bank() as state:
        tenant_id = _tenant_id(state, ref)
        if tenant_id is None:
            raise _UnknownTenant(ref)
        with state.sessions() as db:
            yield state, db, tenant_id
            db.commit()


def _tenant_id(state: Any, ref: str) -> str | None:
    from sqlalchemy import or_, select

    from videoident.records import TenantRecord

    with state.sessions() as db:
        found: str | None = db.scalars(
            select(TenantRecord.id).where(or_(TenantRecord.id == ref, TenantRecord.name == ref))
        ).first()
        return found


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if getattr(args, "json", False) else text)


def _create(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from videoident.masking_policy import Profile
    from videoident.tenants import provision_tenant

    try:
        profile = Profile(args.profile)
    except ValueError:
        print(f"unknown profile {args.profile!r}; choose one of {', '.join(p.value for p in Profile)}",
              file=sys.stderr)
        return 2
    try:
        with _bank() as state, state.sessions() as db:
            created = provision_tenant(state.service, db, state.box, args.name, args.display_name or args.name,
                                       profile)
    except IntegrityError:
        print(f"a tenant named {args.name!r} exists already", file=sys.stderr)
        return 1
    data = created.to_json()
    _emit(args, data, f"tenant_id:      {data['tenant_id']}\napi_key:        {data['api_key']}\n"
                      f"webhook_secret: {data['webhook_secret']}\n(shown once: store them now)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from videoident.records import TenantRecord
    from videoident.tenants import list_api_keys

    with _bank() as state, state.sessions() as db:
        tenants = db.scalars(select(TenantRecord).order_by(TenantRecord.created_at)).all()
        keys = list_api_keys(db)
        rows = [
            {"tenant_id": t.id, "name": t.name, "display_name": t.display_name, "profile": t.masking_profile,
             "api_keys": [{"key_id": k.key_id, "label": k.label, "created_at": k.created_at.isoformat(),
                           "revoked": k.revoked_at is not None} for k in keys if k.tenant_id == t.id]}
            for t in tenants
        ]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        live = [k["key_id"] for k in row["api_keys"] if not k["revoked"]]
        print(f"{row['tenant_id']}  {row['name']:<20} {row['profile']:<16} keys: {', '.join(live) or '-'}")
    return 0


def _add_key(args: argparse.Namespace) -> int:
    from videoident.tenants import issue_api_key

    try:
        with _tenant_transaction(args.tenant) as (_state, db, tenant_id):
            key_id, api_key = issue_api_key(db, tenant_id, args.label)
    except _UnknownTenant:
        print(f"no tenant {args.tenant!r}", file=sys.stderr)
        return 1
    _emit(args, {"tenant_id": tenant_id, "key_id": key_id, "api_key": api_key},
          f"key_id:  {key_id}\napi_key: {api_key}\n(shown once)")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from videoident.tenants import revoke_api_key

    with _bank() as state, state.sessions() as db:
        done = revoke_api_key(db, args.key_id)
        db.commit()
    if not done:
        print(f"no live API key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from videoident.tenants import WEBHOOK_SECRET_OVERLAP, rotate_webhook_secret

    try:
        with _tenant_transaction(args.tenant) as (state, db, tenant_id):
            secret = rotate_webhook_secret(db, state.box, tenant_id)
    except _UnknownTenant:
        print(f"no tenant {args.tenant!r}", file=sys.stderr)
        return 1
    hours = int(WEBHOOK_SECRET_OVERLAP.total_seconds() // 3600)
    _emit(args, {"tenant_id": tenant_id, "webhook_secret": secret},
          f"webhook_secret: {secret}\n(the old secret keeps signing for {hours} h)")
    return 0
