"""A notifier that keeps messages in process memory: development instances and tests only."""

from __future__ import annotations

import threading

from videoident.notify.base import Channel, Message

__all__ = ["MemoryNotifier"]

#: Keep only the newest messages: a long-running development server must not grow without bound.
MEMORY_NOTIFIER_CAPACITY = 100


class MemoryNotifier:
    """Holds the newest messages in memory (never on disk, never in a log)."""

    def __init__(self, channels: frozenset[Channel] = frozenset(Channel)) -> None:
        self._channels = channels
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    @property
    def channels(self) -> frozenset[Channel]:
        return self._channels

    def send(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)
            del self._messages[:-MEMORY_NOTIFIER_CAPACITY]

    @property
    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def last_to(self, recipient: str) -> Message | None:
        with self._lock:
            return next((m for m in reversed(self._messages) if m.to == recipient), None)
