"""Sending messages (the TAN) to a customer: the :class:`Notifier` protocol and its transports.

- :class:`SmtpNotifier`: e-mail over SMTP (STARTTLS and login when configured);
- :class:`HttpSmsNotifier`: an SMS gateway reached over HTTP (JSON POST with a bearer token);
- :class:`MemoryNotifier`: keeps messages in memory, for development and tests only (refused in production).

No transport logs a message body: it holds the TAN.
"""

from __future__ import annotations

from videoident.notify.base import Channel, Message, NotificationError, Notifier
from videoident.notify.config import NotifySettings, build_notifier
from videoident.notify.memory import MemoryNotifier
from videoident.notify.sms import HttpSmsNotifier
from videoident.notify.smtp import SmtpNotifier

__all__ = [
    "Channel",
    "Message",
    "NotificationError",
    "Notifier",
    "MemoryNotifier",
    "SmtpNotifier",
    "HttpSmsNotifier",
    "NotifySettings",
    "build_notifier",
]
