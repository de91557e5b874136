"""FastAPI dependencies of the bank API, as ``Annotated`` aliases.

``SettingsDep`` the app's settings; ``DbDep`` one SQLAlchemy session per request (the router commits);
``TenantDep`` the tenant behind ``Authorization: Bearer <api key>`` (401 otherwise), after its rate limit
(429 with ``Retry-After``; 503 when the limit lives in Redis and Redis does not answer). Everything is
looked up on ``app.state.bank`` (:class:`BankState`), which the app factory builds, so tests can build as
many isolated apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiProblem
from videoident.db import make_engine, make_sessionmaker
from videoident.idempotency import IdempotencyStore
from videoident.masking_policy import Profile
from videoident.ratelimit import RateLimiter, RateLimitSettings
from videoident.redis_client import RedisUnavailable
from videoident.service import IdentService
from videoident.settings import Environment, Settings
from videoident.tenants import AuthenticatedKey, SecretBox, authenticate, provision_tenant
from videoident.webhooks import DeliveryPolicy, WebhookDispatcher

if TYPE_CHECKING:
    import redis

__all__ = [
    "DEMO_CREDENTIALS_FILE",
    "DEMO_TENANT",
    "BankState",
    "BankStateDep",
    "DbDep",
    "SettingsDep",
    "TenantDep",
    "bank_banner",
    "bank_lifespan",
    "ensure_demo_tenant",
    "get_bank_state",
    "open_bank",
]

log = logging.getLogger(__name__)

#: The development instance's demo bank, created on first start.
DEMO_TENANT = "demo-bank"
#: Its credentials (development only), 0600 under the data dir; the start-up banner points here.
DEMO_CREDENTIALS_FILE = "demo-bank.credentials.json"

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="vik_...",
    description="An API key of your bank: `Authorization: Bearer vik_...` (`videoident tenants create`).",
)


@dataclass
class BankState:
    """What the bank API needs at run time (one per app)."""

    settings: Settings
    service: IdentService
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    limiter: RateLimiter
    idempotency: IdempotencyStore
    dispatcher: WebhookDispatcher
    #: The shared Redis client when ``settings.redis_url`` is set (several workers), else None.
    redis: redis.Redis | None = None


def open_bank(
    settings: Settings, *, policy: DeliveryPolicy | None = None, limiter: RateLimiter | None = None
) -> BankState:
    """Connect to the database, run the migrations, and build everything the bank API needs.

    With ``settings.redis_url`` the rate limit is one bucket per tenant in Redis, shared by every worker
    (:class:`videoident.ratelimit_redis.RedisTokenBucketLimiter`); without it, in this process."""
    engine = make_engine(settings.resolved_database_url)
    service = IdentService.from_settings(settings, engine)
    sessions = make_sessionmaker(engine)
    box = SecretBox(settings)
    dispatcher = WebhookDispatcher(sessions, box, policy or DeliveryPolicy(environment=settings.environment),
                                   outbox=service)
    client = None
    if settings.redis_url:
        from videoident.ratelimit_redis import RedisTokenBucketLimiter
        from videoident.redis_client import connect, key_prefix

        client = connect(settings)
        if limiter is None:
            limits = RateLimitSettings()
            limiter = RedisTokenBucketLimiter(client, key_prefix(settings), limits.per_s, limits.burst)
    return BankState(settings=settings, service=service, engine=engine, sessions=sessions, box=box,
                     limiter=limiter if limiter is not None else RateLimitSettings().limiter(),
                     idempotency=IdempotencyStore(sessions, box), dispatcher=dispatcher, redis=client)


def ensure_demo_tenant(state: BankState) -> tuple[str, Path] | None:
    """Development only: the demo bank's API key and the 0600 file holding its credentials.

    Created on first start; a later start reuses the file while its key still works, else issues a new
    key. Outside development nothing is created and None is returned."""
    if state.settings.environment is not Environment.DEVELOPMENT:
        return None
    path = state.settings.data_dir / DEMO_CREDENTIALS_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            with state.sessions() as db:
                if authenticate(db, saved["api_key"]) is not None:
                    return str(saved["api_key"]), path
        except (ValueError, KeyError, TypeError):
            log.warning("%s is unreadable; issuing new demo credentials", path)
    from sqlalchemy import select

    from videoident.records import TenantRecord
    from videoident.tenants import issue_api_key, issue_webhook_secret

    with state.sessions() as db:
        tenant_id = db.scalars(select(TenantRecord.id).where(TenantRecord.name == DEMO_TENANT)).first()
        if tenant_id is None:
            created = provision_tenant(state.service, db, state.box, DEMO_TENANT, "Demo Bank", Profile.GWG_DE)
            record = created.to_json()
        else:
            _key_id, api_key = issue_api_key(db, tenant_id, "demo")
            secret = issue_webhook_secret(db, state.box, tenant_id)
            db.commit()
            record = {"tenant_id": tenant_id, "name": DEMO_TENANT, "api_key": api_key, "webhook_secret": secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=2)
    os.replace(tmp, path)
    return record["api_key"], path


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_bank_state(request: Request) -> BankState:
    state: BankState | None = getattr(request.app.state, "bank", None)
    if state is None:  # the lifespan has not run (or failed)
        raise ApiProblem(503, "the service is starting or its database is unavailable", "unavailable")
    return state


SettingsDep = Annotated[Settings, Depends(get_settings)]
BankStateDep = Annotated[BankState, Depends(get_bank_state)]


def get_db(state: BankStateDep) -> Iterator[Session]:
    with state.sessions() as db:
        yield db


DbDep = Annotated[Session, Depends(get_db)]

_UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="videoident"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="videoident", error="invalid_token"'}


def current_tenant(
    state: BankStateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthenticatedKey:
    if credentials is None:
        raise ApiProblem(401, "send your API key as 'Authorization: Bearer vik_...'", "unauthenticated",
                         headers=_UNAUTHENTICATED)
    with state.sessions() as db:
        key = authenticate(db, credentials.credentials)
    if key is None:
        raise ApiProblem(401, "the API key is unknown or revoked", "invalid_api_key", headers=_INVALID)
    try:
        decision = state.limiter.acquire(f"tenant:{key.tenant_id}")
    except RedisUnavailable as exc:
        log.error("rate limit not checked: %s", exc)
        raise ApiProblem(503, "the rate limiter (Redis) does not answer; retry shortly",
                         "rate_limiter_unavailable", headers={"Retry-After": "5"}) from exc
    if not decision.allowed:
        raise ApiProblem(429, f"rate limit exceeded; retry in {decision.retry_after_header} s", "rate_limited",
                         headers={"Retry-After": decision.retry_after_header})
    return key


TenantDep = Annotated[AuthenticatedKey, Depends(current_tenant)]


#: How often the housekeeping task expires sessions past their deadline (the bank hears "expired" within it).
EXPIRY_SWEEP_S = 30.0


async def _housekeeping(state: BankState, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            if await asyncio.to_thread(state.service.expire_due):
                state.dispatcher.wake()
        except Exception:  # a database hiccup must not end the task
            log.exception("expiring sessions failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXPIRY_SWEEP_S)


@contextlib.asynccontextmanager
async def bank_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database (unless the banner or a test did), run webhook delivery and expiry, close on exit."""
    state: BankState | None = getattr(app.state, "bank", None)
    owned = state is None  # a state the banner or a test built is theirs to close
    if state is None:
        state = await asyncio.to_thread(open_bank, app.state.settings)
        app.state.bank = state
    stop = asyncio.Event()
    tasks = [asyncio.create_task(state.dispatcher.run(stop), name="videoident-webhooks"),
             asyncio.create_task(_housekeeping(state, stop), name="videoident-expiry")]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if owned:
            state.engine.dispose()
            if state.redis is not None:
                state.redis.close()
            app.state.bank = None


def bank_banner(app: FastAPI, base_url: str) -> list[str]:
    """Start-up banner lines: opens the database now, and in development shows the demo bank's API key."""
    state: BankState | None = getattr(app.state, "bank", None)
    if state is None:
        state = open_bank(app.state.settings)
        app.state.bank = state
    lines = [f"  bank API:       {base_url}/v1  (reference: {base_url}/docs#/bank)"]
    demo = ensure_demo_tenant(state)
    if demo is not None:
        api_key, path = demo
        lines += [f"  demo bank key:  {api_key}",
                  f"                  (development only; with its webhook secret in {path}, mode 0600)"]
    return lines
