"""The confirmation TAN: generation, keyed hashing, comparison, and the message the customer receives.

Rules (the service enforces them, see ``docs/core.md``):
- 6 digits from :mod:`secrets` (1 in 10^6 per guess; with 3 attempts per session 3 in 10^6);
- stored only as HMAC-SHA256 under a key derived from the master key, over the challenge id, the session
  id, the purpose and the code, so a hash is useless for another session, purpose or challenge;
- valid 5 minutes, single use; a re-sent TAN supersedes the previous one but never resets the session's
  counter of wrong entries; the 3rd wrong entry fails the session;
- compared with :func:`hmac.compare_digest` (constant time).
The message names the bank and the purpose, so a phisher who forwards it gains nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from videoident.states import Purpose

__all__ = [
    "TAN_DIGITS",
    "TAN_TTL_S",
    "TAN_MAX_FAILED_ATTEMPTS",
    "TAN_MAX_SENDS",
    "TAN_RESEND_COOLDOWN_S",
    "TanMessage",
    "generate_code",
    "code_hmac",
    "codes_match",
    "normalise_entry",
    "render_message",
]

#: The issue's requirement: 6 digits.
TAN_DIGITS = 6
#: The issue's requirement: 5 minutes (also PSD2 RTS art. 4(3)(d) caps an authentication code at 5 minutes).
TAN_TTL_S = 300
#: The issue's requirement: the 3rd wrong entry fails the session.
TAN_MAX_FAILED_ATTEMPTS = 3
#: At most this many TANs per session (the first plus 4 re-sends): bounds SMS cost and message flooding.
TAN_MAX_SENDS = 5
#: Minimum seconds between two sends, so a double click does not send two codes (common SMS practice).
TAN_RESEND_COOLDOWN_S = 30

CodeSource = Callable[[], str]


def generate_code() -> str:
    """Six uniformly random digits from :mod:`secrets` (leading zeros kept)."""
    return f"{secrets.randbelow(10**TAN_DIGITS):0{TAN_DIGITS}d}"


def code_hmac(key: bytes, *, challenge_id: str, session_id: str, purpose: Purpose, code: str) -> str:
    message = f"videoident/tan/v1|{challenge_id}|{session_id}|{purpose.value}|{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def codes_match(expected_hmac: str, candidate_hmac: str) -> bool:
    return hmac.compare_digest(expected_hmac.encode(), candidate_hmac.encode())


def normalise_entry(entry: str) -> str | None:
    """The digits a customer typed ("123 456", "123-456" are fine); None if it cannot be a TAN."""
    digits = "".join(ch for ch in entry if not ch.isspace() and ch != "-")
    if len(digits) != TAN_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


@dataclass(frozen=True)
class TanMessage:
    subject: str
    body: str
    #: The short text for an SMS (fits one 160-character GSM segment for typical bank names).
    sms: str


_PURPOSE_TEXT = {
    "en": {Purpose.ACCOUNT_OPENING: "to open your account at {bank}",
           Purpose.REACTIVATION: "to reactivate your account at {bank}"},
    "de": {Purpose.ACCOUNT_OPENING: "zur Eröffnung Ihres Kontos bei {bank}",
           Purpose.REACTIVATION: "zur Reaktivierung Ihres Kontos bei {bank}"},
    "nl": {Purpose.ACCOUNT_OPENING: "om uw rekening bij {bank} te openen",
           Purpose.REACTIVATION: "om uw rekening bij {bank} opnieuw te activeren"},
}
_TEMPLATES = {
    "en": ("Your confirmation code from {bank}",
           "Your code {purpose} is {code}.\n\nIt is valid for {minutes} minutes and can be used once. Enter it only "
           "on the video identification page you are using right now. {bank} will never ask you for this code "
           "by phone, e-mail or chat. If you did not just identify yourself by video, do not use it.",
           "{code} is your code {purpose}. Valid {minutes} min. Never share it; {bank} will never ask for it."),
    "de": ("Ihr Bestätigungscode von {bank}",
           "Ihr Code {purpose} lautet {code}.\n\nEr ist {minutes} Minuten gültig und nur einmal verwendbar. Geben "
           "Sie ihn nur auf der Seite der Video-Identifizierung ein, die Sie gerade nutzen. {bank} fragt Sie nie "
           "per Telefon, E-Mail oder Chat nach diesem Code. Wenn Sie sich nicht gerade per Video identifizieren, "
           "verwenden Sie ihn nicht.",
           "{code} ist Ihr Code {purpose}. {minutes} Min. gültig. Nie weitergeben; {bank} fragt nie danach."),
    "nl": ("Uw bevestigingscode van {bank}",
           "Uw code {purpose} is {code}.\n\nDe code is {minutes} minuten geldig en eenmalig te gebruiken. Voer hem "
           "alleen in op de pagina van de video-identificatie die u nu gebruikt. {bank} vraagt nooit per telefoon, "
           "e-mail of chat om deze code. Identificeert u zich nu niet per video, gebruik hem dan niet.",
           "{code} is uw code {purpose}. {minutes} min geldig. Nooit delen; {bank} vraagt er nooit om."),
}


def render_message(*, code: str, bank: str, purpose: Purpose, locale: str, ttl_s: int = TAN_TTL_S) -> TanMessage:
    """The TAN message in the session's language (``de``, ``nl``, else English)."""
    language = locale.split("-")[0].split("_")[0].lower()
    if language not in _TEMPLATES:
        language = "en"
    purpose_text = _PURPOSE_TEXT[language][purpose].format(bank=bank)
    subject, body, sms = _TEMPLATES[language]
    values = {"bank": bank, "purpose": purpose_text, "code": code, "minutes": ttl_s // 60}
    return TanMessage(subject.format(**values), body.format(**values), sms.format(**values))
