"""Agent accounts of the review console: password + TOTP login, roles, lockout, console sessions.

- Passwords are hashed with **argon2id** (argon2-cffi, memory-hard; RFC 9106's second recommended
  parameter set, see :data:`PASSWORD_HASHER`). An unknown name costs the same hash as a known one.
- TOTP (RFC 6238, pyotp: SHA-1, 6 digits, 30 s steps) is enrolled at creation; the provisioning URI is
  returned once. The secret is stored sealed (AES-256-GCM under a key derived from the master key), so a
  copy of the database alone cannot mint codes. During a master-key rotation the previous keys still open
  it (GCM's tag tells which key sealed it), and a login re-seals it under the current key.
  **Replay protection**: a code's time step must be newer than the last accepted one, so a code seen over a
  shoulder cannot be used a second time.
- After :data:`MAX_FAILED_LOGINS` failures in a row the account locks for :data:`LOCKOUT`.
- A successful login opens a console session: an opaque 256-bit token (only its SHA-256 is stored) with an
  idle and an absolute expiry. Logout revokes it.

Every login, failure, lockout and logout is written to the core's audit chain. The tables live on the shared
metadata (:class:`videoident.db.Base`); Alembic revision 0004 creates them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Boolean, Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from videoident import audit
from videoident.clock import Clock, utcnow
from videoident.db import Base
from videoident.ids import new_uuid
from videoident.records import UTCDateTime
from videoident.settings import Settings
from videoident.states import ActorType

log = logging.getLogger(__name__)

__all__ = [
    "AgentRole",
    "AgentView",
    "AgentStore",
    "ConsoleLogin",
    "CreatedAgent",
    "LoginFailed",
    "MAX_FAILED_LOGINS",
    "LOCKOUT",
    "SESSION_IDLE",
    "SESSION_ABSOLUTE",
    "mask",
    "masked_report",
]

#: argon2id with RFC 9106 section 4's second recommended option (t=3, m=64 MiB, p=4): memory-hard. Measured
#: on these 2-core machines: 1.2 s per hash under a load of 10 (8 engineers' tests), see docs/console.md.
PASSWORD_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=Type.ID)
#: NIST SP 800-63B section 5.1.1.2: at least 8 characters; agents get 12 (a privileged account).
MIN_PASSWORD_CHARS = 12
#: Failed logins in a row before the account locks (BSI IT-Grundschutz ORP.4.A22 asks for a limit; 5 is
#: the common choice that still forgives typos).
MAX_FAILED_LOGINS = 5
#: How long a locked account stays locked (a supervisor may unlock it sooner).
LOCKOUT = timedelta(minutes=15)
#: A console session ends after this long without a request (an agent who walked away)...
SESSION_IDLE = timedelta(minutes=30)
#: ...and after this long in any case (a working shift).
SESSION_ABSOLUTE = timedelta(hours=10)
#: RFC 6238 section 5.2: accept one step of clock drift either way.
TOTP_DRIFT_STEPS = 1
TOTP_ISSUER = "videoident console"
#: Bytes of randomness in a console session token.
TOKEN_BYTES = 32

T = TypeVar("T")


class AgentRole(StrEnum):
    AGENT = "agent"  # takes calls and decides
    SUPERVISOR = "supervisor"  # also reviews overrides (four-eyes) and sees unmasked data of reviewed sessions

    @property
    def actor_type(self) -> ActorType:
        return ActorType.SUPERVISOR if self is AgentRole.SUPERVISOR else ActorType.AGENT


class AgentRecord(Base):
    __tablename__ = "console_agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: nonce (12 bytes) + AES-256-GCM ciphertext of the base32 TOTP secret.
    totp_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: The newest TOTP time step accepted (replay protection); 0 = none yet.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsoleSessionRecord(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginFailed(Exception):
    """Wrong name, password or code, a replayed code, or a locked account (one message for all)."""

    def __init__(self, locked: bool = False) -> None:
        super().__init__("login failed")
        self.locked = locked


@dataclass(frozen=True)
class AgentView:
    id: str
    name: str
    role: AgentRole

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.role.actor_type, self.id)


@dataclass(frozen=True)
class CreatedAgent:
    agent: AgentView
    #: ``otpauth://`` URI for the authenticator app: shown once, never stored in the clear.
    provisioning_uri: str = field(repr=False)


@dataclass(frozen=True)
class ConsoleLogin:
    agent: AgentView
    token: str = field(repr=False)
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _totp_aead(master_key: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"videoident/console-totp-key/v1").derive(master_key))


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the name is unknown, so both cases cost one argon2 verification."""
    return hasher.hash("not-a-real-password-" + secrets.token_hex(8))


class AgentStore:
    """Agent accounts and console sessions on ``sessions``' database (the core's engine)."""

    def __init__(self, sessions: sessionmaker[Session], master_key: bytes, *,
                 previous_master_keys: Sequence[bytes] = (),
                 clock: Clock = utcnow, hasher: PasswordHasher = PASSWORD_HASHER) -> None:
        """``master_key`` seals new TOTP secrets; ``previous_master_keys`` (a rotation's old keys) only open."""
        self._sessions = sessions
        self._clock = clock
        self._hasher = hasher
        self._aead = _totp_aead(master_key)
        self._previous_aeads = tuple(_totp_aead(key) for key in previous_master_keys)

    @classmethod
    def from_settings(cls, sessions: sessionmaker[Session], settings: Settings, **kwargs: Any) -> AgentStore:
        """The store with the settings' whole key ring (current + ``VIDEOIDENT_PREVIOUS_MASTER_KEYS``)."""
        return cls(sessions, settings.master_key_bytes,
                   previous_master_keys=tuple(settings.previous_master_key_bytes().values()), **kwargs)

    # ----------------------------------------------------------------- plumbing
    def _tx(self, work: Callable[[Session], T]) -> T:
        for attempt in range(8):  # the audit chain's head may be taken by a concurrent writer: retry
            db = self._sessions()
            try:
                result = work(db)
                db.commit()
                return result
            except IntegrityError:
                db.rollback()
                if attempt == 7:
                    raise
            except BaseException:
                db.rollback()
                raise
            finally:
                db.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _audit(self, db: Session, actor: audit.Actor, action: str, **details: str | int | bool | None) -> None:
        audit.append(db, at=self._clock(), actor=actor, action=action, details=details)

    def _seal(self, secret: str, agent_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), f"console-totp|{agent_id}".encode())

    def _open(self, sealed: bytes, agent_id: str) -> tuple[str, bool] | None:
        """The TOTP secret and whether it was sealed under the current key (else: re-seal it); None when
        no configured master key opens it (an old key was retired before this agent logged in)."""
        aad = f"console-totp|{agent_id}".encode()
        for aead in (self._aead, *self._previous_aeads):
            try:
                return aead.decrypt(sealed[:12], sealed[12:], aad).decode(), aead is self._aead
            except InvalidTag:
                continue
        return None

    # ----------------------------------------------------------------- accounts
    def create(self, name: str, role: AgentRole, password: str, *, actor: audit.Actor = audit.SYSTEM
               ) -> CreatedAgent:
        """A new account with a fresh TOTP secret; returns its provisioning URI (once)."""
        name = name.strip()
        if not name or len(name) > 100 or not name.replace(".", "").replace("-", "").replace("_", "").isalnum():
            raise ValueError("an agent name is 1-100 letters, digits, '.', '-' or '_'")
        if len(password) < MIN_PASSWORD_CHARS:
            raise ValueError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
        secret = pyotp.random_base32()
        agent_id = new_uuid()
        password_hash = self._hasher.hash(password)

        def work(db: Session) -> AgentView:
            if db.execute(select(AgentRecord.id).where(AgentRecord.name == name)).first() is not None:
                raise ValueError(f"an agent named {name!r} exists")
            db.add(AgentRecord(id=agent_id, name=name, role=AgentRole(role).value, password_hash=password_hash,
                               totp_secret_enc=self._seal(secret, agent_id), totp_last_step=0, failed_logins=0,
                               disabled=False, created_at=self._clock()))
            self._audit(db, actor, "agent.created", agent_id=agent_id, role=AgentRole(role).value)
            return AgentView(agent_id, name, AgentRole(role))

        view = self._tx(work)
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)
        return CreatedAgent(view, uri)

    def get(self, agent_id: str) -> AgentView | None:
        with self._sessions() as db:
            row = db.get(AgentRecord, agent_id)
            return None if row is None else AgentView(row.id, row.name, AgentRole(row.role))

    def unlock(self, name: str, actor: audit.Actor) -> None:
        def work(db: Session) -> None:
            row = db.execute(select(AgentRecord).where(AgentRecord.name == name)).scalar_one_or_none()
            if row is None:
                raise LookupError(name)
            row.failed_logins, row.locked_until = 0, None
            self._audit(db, actor, "agent.unlocked", agent_id=row.id)

        self._tx(work)

    # ----------------------------------------------------------------- login
    def _totp_step(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step ``code`` belongs to (within the drift window), or None."""
        if len(code) != 6 or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret)
        step_now = int(now.timestamp()) // totp.interval
        for step in range(step_now - TOTP_DRIFT_STEPS, step_now + TOTP_DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.at(step * totp.interval), code):
                return step
        return None

    def login(self, name: str, password: str, code: str) -> ConsoleLogin:
        """Check password and TOTP; on success open a console session. Raises :class:`LoginFailed`."""
        code = code.replace(" ", "")

        def work(db: Session) -> ConsoleLogin | LoginFailed:
            now = self._clock()
            row = db.execute(select(AgentRecord).where(AgentRecord.name == name.strip())).scalar_one_or_none()
            if row is None or row.disabled:
                try:
                    self._hasher.verify(_dummy_hash(self._hasher), password)
                except VerificationError:
                    pass
                self._audit(db, audit.SYSTEM, "console.login_failed", why="unknown_agent")
                return LoginFailed()
            actor = audit.Actor(AgentRole(row.role).actor_type, row.id)
            if row.locked_until is not None and row.locked_until > now:
                self._audit(db, actor, "console.login_failed", why="locked")
                return LoginFailed(locked=True)
            password_ok: bool
            try:
                password_ok = self._hasher.verify(row.password_hash, password)
            except (VerificationError, InvalidHashError):
                password_ok = False
            step: int | None = None
            if password_ok:
                opened = self._open(row.totp_secret_enc, row.id)
                if opened is None:  # the operator's key ring, not the agent: no failure counted
                    log.error("agent %s: no configured master key opens the TOTP secret; keep the old key in "
                              "VIDEOIDENT_PREVIOUS_MASTER_KEYS or re-enrol the agent", row.id)
                    self._audit(db, actor, "console.login_failed", why="totp_key_unavailable")
                    return LoginFailed()
                secret, current_key = opened
                step = self._totp_step(secret, code, now)
                if step is not None and not current_key:  # rotation: move it onto the current key
                    row.totp_secret_enc = self._seal(secret, row.id)
            replayed = step is not None and step <= row.totp_last_step
            if not password_ok or step is None or replayed:
                row.failed_logins += 1
                why = "password" if not password_ok else ("totp_replayed" if replayed else "totp")
                self._audit(db, actor, "console.login_failed", why=why, failed_logins=row.failed_logins)
                if row.failed_logins >= MAX_FAILED_LOGINS:
                    row.locked_until = now + LOCKOUT
                    self._audit(db, actor, "agent.locked", minutes=int(LOCKOUT.total_seconds() // 60))
                return LoginFailed(locked=row.locked_until is not None and row.locked_until > now)
            if self._hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
            row.totp_last_step, row.failed_logins, row.locked_until = step, 0, None
            token = secrets.token_urlsafe(TOKEN_BYTES)
            db.add(ConsoleSessionRecord(token_hash=_token_hash(token), agent_id=row.id, created_at=now,
                                        last_seen_at=now))
            self._audit(db, actor, "console.login")
            return ConsoleLogin(AgentView(row.id, row.name, AgentRole(row.role)), token,
                                min(now + SESSION_ABSOLUTE, now + SESSION_IDLE))

        # A failure is committed too (the counter and the audit entry), then raised.
        outcome = self._tx(work)
        if isinstance(outcome, LoginFailed):
            raise outcome
        return outcome

    def authenticate(self, token: str) -> AgentView | None:
        """The agent behind a console token while the session is alive (refreshes its idle timer)."""
        if not token or len(token) > 200:
            return None

        def work(db: Session) -> AgentView | None:
            now = self._clock()
            row = db.get(ConsoleSessionRecord, _token_hash(token))
            if (row is None or row.revoked_at is not None or row.last_seen_at + SESSION_IDLE <= now
                    or row.created_at + SESSION_ABSOLUTE <= now):
                return None
            agent = db.get(AgentRecord, row.agent_id)
            if agent is None or agent.disabled:
                return None
            # Write the idle timer at most once a minute: every request would otherwise be a write.
            if now - row.last_seen_at >= timedelta(minutes=1):
                row.last_seen_at = now
            return AgentView(agent.id, agent.name, AgentRole(agent.role))

        return self._tx(work)

    def logout(self, token: str) -> None:
        def work(db: Session) -> None:
            row = db.get(ConsoleSessionRecord, _token_hash(token))
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = self._clock()
            agent = db.get(AgentRecord, row.agent_id)
            role = AgentRole(agent.role) if agent is not None else AgentRole.AGENT
            self._audit(db, audit.Actor(role.actor_type, row.agent_id), "console.logout")

        self._tx(work)


# --------------------------------------------------------------------- what a viewer without the right sees
def mask(value: str | None, keep_end: int = 0) -> str | None:
    """``Mustermann`` -> ``M•••••••••``; with ``keep_end=3``: ``T22000129`` -> ``••••••129``."""
    if not value:
        return value
    if keep_end:
        return "•" * max(0, len(value) - keep_end) + value[-keep_end:]
    return value[0] + "•" * (len(value) - 1)


def masked_report(report: dict[str, Any]) -> dict[str, Any]:
    """The live report with the MRZ lines and personal fields masked (for a viewer who may not see them)."""
    out = dict(report)
    mrz = out.get("mrz")
    if isinstance(mrz, dict):
        mrz = dict(mrz)
        if isinstance(mrz.get("lines"), list):
            mrz["lines"] = [mask(str(line), 0) for line in mrz["lines"]]
        if isinstance(mrz.get("fields"), dict):
            mrz["fields"] = {k: (mask(str(v)) if isinstance(v, str) and k not in ("document_type", "issuing_state")
                                 else v) for k, v in mrz["fields"].items()}
        out["mrz"] = mrz
    return out
