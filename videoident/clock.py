"""The wall clock of the core: one ``utcnow()`` for everything that stamps a row or a deadline.

Services take a :data:`Clock` (any callable returning an aware UTC datetime) so tests can set the time;
the default is :func:`utcnow`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utcnow"]

#: A source of the current time: returns an aware datetime in UTC.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
