"""The notifier contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

__all__ = ["Channel", "Message", "NotificationError", "Notifier"]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class NotificationError(RuntimeError):
    """The transport could not hand the message over (the text never contains the message body)."""


@dataclass(frozen=True)
class Message:
    """One message to one recipient. ``body`` may hold a TAN: never log it, never put it in ``repr``."""

    channel: Channel
    to: str
    subject: str
    body: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.to or any(c in self.to for c in "\r\n"):
            raise ValueError("a recipient must be one non-empty line")
        if any(c in self.subject for c in "\r\n"):
            raise ValueError("a subject must be one line")


class Notifier(Protocol):
    """Delivers messages on the channels it names. ``send`` raises :class:`NotificationError` on failure."""

    @property
    def channels(self) -> frozenset[Channel]: ...

    def send(self, message: Message) -> None: ...
