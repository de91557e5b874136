"""The core's exceptions, so the API can map each to one HTTP answer."""

from __future__ import annotations

__all__ = ["CoreError", "NotFound", "Erased", "TokenInvalid", "ApprovalBlocked", "FourEyesViolation",
           "TanError", "NotAssigned"]


class CoreError(Exception):
    """Base of the core's expected errors (the message never holds PII)."""


class NotFound(CoreError):
    """No such object for this caller (another tenant's object is reported the same way: 404, not 403)."""


class Erased(CoreError):
    """The session's data key was destroyed: its PII and evidence are gone (410)."""


class TokenInvalid(CoreError):
    """A customer link that is unknown, used up or expired."""


class ApprovalBlocked(CoreError):
    """Approval without override while required captures or checks are missing or not passed."""

    def __init__(self, gaps: list[str]) -> None:
        super().__init__("approval needs: " + ", ".join(gaps))
        self.gaps = gaps


class FourEyesViolation(CoreError):
    """The supervisor who reviews an override must not be the agent who made it."""


class TanError(CoreError):
    """A TAN cannot be sent now (no contact, cooldown, too many sends, wrong status)."""


class NotAssigned(CoreError):
    """Only the agent who has the call may decide it (403)."""
