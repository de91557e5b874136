"""Graded check results, shared by every pipeline stage and serialised as the session report.

A check never answers a bare bool: it gives a :class:`Verdict`, a score where it has one, a stable
reason code with words, and its own measurements. A check that cannot decide says ``inconclusive``;
it never passes by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Verdict", "Reason", "CheckResult", "combine_verdicts"]


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Reason:
    """A stable machine code (``snake_case``) and the words an agent reads."""

    code: str
    text: str

    def __post_init__(self) -> None:
        if not self.code or not self.code.replace("_", "").isalnum() or self.code.lower() != self.code:
            raise ValueError(f"reason code must be snake_case, got {self.code!r}")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (a section of the session report).

    ``score`` is in 0..1 where 1 is the most genuine-looking, or None where the check has no score.
    ``measurements`` holds the check's own numbers (JSON-serialisable), e.g. angles reached.
    """

    name: str
    verdict: Verdict
    reason: Reason
    score: float | None = None
    measurements: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in 0..1, got {self.score}")

    @classmethod
    def inconclusive(cls, name: str, code: str, text: str, **measurements: Any) -> CheckResult:
        return cls(name, Verdict.INCONCLUSIVE, Reason(code, text), None, measurements)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "score": self.score,
            "reason": {"code": self.reason.code, "text": self.reason.text},
            **dict(self.measurements),
        }


def combine_verdicts(verdicts: list[Verdict]) -> Verdict:
    """Any fail fails; otherwise any inconclusive (or none at all) is inconclusive; else pass."""
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if not verdicts or Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS
