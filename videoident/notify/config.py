"""Which transports an instance uses, from ``VIDEOIDENT_SMTP_*`` and ``VIDEOIDENT_SMS_*`` variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from videoident.notify.base import Channel, Message, NotificationError, Notifier
from videoident.notify.memory import MemoryNotifier
from videoident.notify.sms import HttpSmsNotifier
from videoident.notify.smtp import SmtpNotifier
from videoident.settings import Environment

__all__ = ["NotifySettings", "build_notifier", "CompositeNotifier"]


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOIDENT_", extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_sender: str = "videoident@localhost"
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    sms_sender: str = "videoident"


class CompositeNotifier:
    """Routes each message to the transport for its channel."""

    def __init__(self, transports: list[Notifier]) -> None:
        self._by_channel: dict[Channel, Notifier] = {}
        for transport in transports:
            for channel in transport.channels:
                self._by_channel.setdefault(channel, transport)

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(self._by_channel)

    def send(self, message: Message) -> None:
        transport = self._by_channel.get(message.channel)
        if transport is None:
            raise NotificationError(f"no transport configured for {message.channel.value}")
        transport.send(message)


def build_notifier(environment: Environment, settings: NotifySettings | None = None) -> Notifier:
    """SMTP and/or the SMS gateway as configured. With neither: a :class:`MemoryNotifier` in development and
    test; in production a missing transport is an error at start-up, not when the first TAN fails."""
    settings = settings or NotifySettings()
    transports: list[Notifier] = []
    if settings.smtp_host:
        transports.append(SmtpNotifier(
            settings.smtp_host, settings.smtp_port, settings.smtp_sender, starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None))
    if settings.sms_gateway_url:
        transports.append(HttpSmsNotifier(
            settings.sms_gateway_url, sender=settings.sms_sender,
            token=settings.sms_gateway_token.get_secret_value() if settings.sms_gateway_token else None))
    if transports:
        return CompositeNotifier(transports)
    if environment is Environment.PRODUCTION:
        raise NotificationError("production needs VIDEOIDENT_SMTP_HOST or VIDEOIDENT_SMS_GATEWAY_URL for TANs")
    return MemoryNotifier()
