"""FastAPI dependencies of the bank API, as ``Annotated`` aliases.

``SettingsDep`` the app's settings; ``DbDep`` one SQLAlchemy session per request (the router commits);
``TenantDep`` the tenant behind ``Authorization: Bearer <api key>`` (401 otherwise), after its rate limit
(429 with ``Retry-After``). Everything is looked up on ``app.state.bank`` (:class:`BankState`), which the
app factory builds, so tests can build as many isolated apps as they like.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiProblem
from videoident.idempotency import IdempotencyStore
from videoident.ratelimit import RateLimiter
from videoident.settings import Settings
from videoident.tenants import AuthenticatedKey, SecretBox, authenticate
from videoident.webhooks import WebhookDispatcher

__all__ = ["BankState", "BankStateDep", "DbDep", "SettingsDep", "TenantDep", "get_bank_state"]

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="vik_...",
    description="An API key of your bank: `Authorization: Bearer vik_...` (`videoident tenants create`).",
)


@dataclass
class BankState:
    """What the bank API needs at run time (one per app)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    limiter: RateLimiter
    idempotency: IdempotencyStore
    dispatcher: WebhookDispatcher


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
    decision = state.limiter.acquire(f"tenant:{key.tenant_id}")
    if not decision.allowed:
        raise ApiProblem(429, f"rate limit exceeded; retry in {decision.retry_after_header} s", "rate_limited",
                         headers={"Retry-After": decision.retry_after_header})
    return key


TenantDep = Annotated[AuthenticatedKey, Depends(current_tenant)]
