"""The console's memory of a call, in the database so every worker sees the same: the security features drawn
for a session, the agent's confirmations, and which agents have had their first checks view of a session
audited.

With several workers (``videoident serve --workers N`` or several hosts on one PostgreSQL) the console's
requests for one call land on any worker; kept in one process's memory, another worker would draw other
features mid-call (the agent is asked for features the customer already showed, and the audit log names
two draws) and forget the confirmations. Here each is a row with a unique key:

- the draw is **insert-or-read**: the first worker's insert wins, a racing worker's insert fails on the
  primary key and it reads the winner's draw. The one re-draw the console makes (features drawn while the
  document was still unknown, redrawn once its template is known) is a conditional update
  (``... WHERE template IS NULL``), so it too happens once.
- a confirmation and a first view are insert-if-absent; the caller learns whether its insert was the first.

Nothing here is personal data: feature descriptions from the catalogue, confirmation item names
(``document_number_read``, ``feature:<code>``) and ids. The tables live on the shared metadata
(:class:`videoident.db.Base`); Alembic revision 0005 creates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from pipelines.layouts import Template
from videoident.clock import Clock, utcnow
from videoident.db import Base
from videoident.records import UTCDateTime
from videoident.security_features import SecurityFeature

__all__ = ["ConsoleMemory", "DrawnFeatures", "DrawnFeaturesRecord", "ConfirmationRecord", "ChecksViewRecord"]

#: Longest confirmation item: ``feature:`` plus a catalogue code (the longest code today has 20 characters).
MAX_ITEM_CHARS = 80


class DrawnFeaturesRecord(Base):
    """The security features drawn for one session (one row per session: the primary key makes the draw
    happen once across workers)."""

    __tablename__ = "console_drawn_features"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: The document template the draw was made for (a :class:`pipelines.layouts.Template` value), or None
    #: while the document was not yet known (generic ID-1 features).
    template: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: The drawn features as shown to the agent: [{"code", "name", "where", "look_for"}, ...] (catalogue
    #: text, kept as drawn so a catalogue change during a call does not change what the agent was asked).
    features: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConfirmationRecord(Base):
    """One thing the agent confirmed during a session (an asked question, an inspected feature)."""

    __tablename__ = "console_confirmations"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    item: Mapped[str] = mapped_column(String(MAX_ITEM_CHARS), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(36))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChecksViewRecord(Base):
    """An agent's first look at a session's checks (its audit event is written once per agent and session)."""

    __tablename__ = "console_checks_views"

    agent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class DrawnFeatures:
    """The features drawn for a session and the template they were drawn for (None: document unknown)."""

    template: Template | None
    features: tuple[SecurityFeature, ...]

    @classmethod
    def of(cls, record: DrawnFeaturesRecord) -> DrawnFeatures:
        return cls(Template(record.template) if record.template is not None else None,
                   tuple(SecurityFeature(**f) for f in record.features))


class ConsoleMemory:
    """The console's per-call memory on the core's database. Every method is one short transaction (blocking:
    call it from a thread in async code)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    # ------------------------------------------------------------------------------ drawn features
    def drawn(self, session_id: str) -> DrawnFeatures | None:
        """The features drawn for ``session_id``, or None before the first draw."""
        with self._sessions() as db:
            record = db.get(DrawnFeaturesRecord, session_id)
            return DrawnFeatures.of(record) if record is not None else None

    def draw_once(self, session_id: str, template: Template | None,
                  features: Sequence[SecurityFeature]) -> tuple[DrawnFeatures, bool]:
        """Record ``features`` as the draw for ``session_id`` unless one exists; returns (the draw in force,
        whether it is ``features``).

        A draw made while the document was unknown (template None) is replaced once by a draw for the
        template when one is given; any other existing draw stays. Of two workers drawing at the same time,
        exactly one wins and both return the winner's draw."""
        payload = [f.to_json() for f in features]
        value = template.value if template is not None else None
        with self._sessions() as db:
            record = db.get(DrawnFeaturesRecord, session_id)
            if record is None:
                db.add(DrawnFeaturesRecord(session_id=session_id, template=value, features=payload,
                                           drawn_at=self._clock()))
                try:
                    db.commit()
                    return DrawnFeatures(template, tuple(features)), True
                except IntegrityError:  # another worker drew a moment ago: its draw stands
                    db.rollback()
            elif record.template is None and template is not None:
                result = cast(CursorResult[Any], db.execute(
                    update(DrawnFeaturesRecord)
                    .where(DrawnFeaturesRecord.session_id == session_id, DrawnFeaturesRecord.template.is_(None))
                    .values(template=value, features=payload, drawn_at=self._clock())
                ))
                upgraded = result.rowcount
                db.commit()
                if upgraded == 1:
                    return DrawnFeatures(template, tuple(features)), True
            db.expire_all()
            current = db.get(DrawnFeaturesRecord, session_id)
            assert current is not None  # rows are never deleted while a session is open
            return DrawnFeatures.of(current), False

    # ------------------------------------------------------------------------------ confirmations
    def confirm(self, session_id: str, item: str, agent_id: str) -> tuple[frozenset[str], bool]:
        """Record that the agent confirmed ``item``; returns (all confirmed items, whether this one is new)."""
        if not 0 < len(item) <= MAX_ITEM_CHARS:
            raise ValueError(f"a confirmation item has 1 to {MAX_ITEM_CHARS} characters")
        with self._sessions() as db:
            new = db.get(ConfirmationRecord, (session_id, item)) is None
            if new:
                db.add(ConfirmationRecord(session_id=session_id, item=item, agent_id=agent_id,
                                          confirmed_at=self._clock()))
                try:
                    db.commit()
                except IntegrityError:  # the same item confirmed on another worker a moment ago
                    db.rollback()
                    new = False
        return self.confirmed(session_id), new

    def confirmed(self, session_id: str) -> frozenset[str]:
        """The items confirmed so far for ``session_id``."""
        with self._sessions() as db:
            return frozenset(db.scalars(select(ConfirmationRecord.item)
                                        .where(ConfirmationRecord.session_id == session_id)))

    # ------------------------------------------------------------------------------ checks views
    def first_view(self, agent_id: str, session_id: str) -> bool:
        """Record that ``agent_id`` looked at the checks of ``session_id``; True only the first time (on any
        worker), so the caller audits it once."""
        with self._sessions() as db:
            if db.get(ChecksViewRecord, (agent_id, session_id)) is not None:
                return False
            db.add(ChecksViewRecord(agent_id=agent_id, session_id=session_id, viewed_at=self._clock()))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                return False
            return True

    def viewed(self, agent_id: str, session_id: str) -> bool:
        with self._sessions() as db:
            return db.get(ChecksViewRecord, (agent_id, session_id)) is not None
