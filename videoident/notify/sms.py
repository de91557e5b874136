"""SMS through an HTTP gateway: ``POST {url}`` with JSON ``{"to", "text", "sender"}`` and a bearer token.

Most SMS providers (and self-hosted gateways such as an Android SMS gateway or a kannel front) accept
this shape or sit behind a small adapter that does; the gateway answers 2xx when it accepted the message.
"""

from __future__ import annotations

import re

import httpx

from videoident.notify.base import Channel, Message, NotificationError

__all__ = ["HttpSmsNotifier", "E164"]

#: ITU-T E.164: "+", country code, up to 15 digits in total.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
#: Seconds to wait for the gateway.
SMS_TIMEOUT_S = 10.0


class HttpSmsNotifier:
    def __init__(self, url: str, *, token: str | None = None, sender: str = "videoident",
                 timeout_s: float = SMS_TIMEOUT_S, transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.sender, self.timeout_s = url, sender, timeout_s
        self._token = token
        self._transport = transport

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.SMS})

    def send(self, message: Message) -> None:
        if message.channel is not Channel.SMS:
            raise NotificationError(f"the SMS gateway cannot send {message.channel.value}")
        if not E164.match(message.to):
            raise NotificationError("the phone number is not in E.164 form (+<country><number>)")
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                response = client.post(self.url, json={"to": message.to, "text": message.body,
                                                       "sender": self.sender}, headers=headers)
        except httpx.HTTPError as exc:
            raise NotificationError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if not response.is_success:
            raise NotificationError(f"SMS gateway answered HTTP {response.status_code}")
