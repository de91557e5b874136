"""E-mail over SMTP (stdlib :mod:`smtplib`), with STARTTLS and login when configured."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from videoident.notify.base import Channel, Message, NotificationError

__all__ = ["SmtpNotifier"]

#: Seconds to wait for the SMTP server; a TAN that arrives later than this is of little use anyway.
SMTP_TIMEOUT_S = 10.0


class SmtpNotifier:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = SMTP_TIMEOUT_S,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self._password = starttls, username, password
        self.timeout_s = timeout_s

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.EMAIL})

    def send(self, message: Message) -> None:
        if message.channel is not Channel.EMAIL:
            raise NotificationError(f"SMTP cannot send {message.channel.value}")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    client.login(self.username, self._password or "")
                refused = client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            # The exception text may quote the server's reply but never the body.
            raise NotificationError(f"SMTP delivery to {self.host}:{self.port} failed: {type(exc).__name__}") from None
        if refused:
            raise NotificationError("the SMTP server refused the recipient")
