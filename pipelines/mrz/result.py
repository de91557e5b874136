"""The ``mrz`` section of the session report: a :class:`~pipelines.results.CheckResult` from a parsed
MRZ and its cross-checks.

Verdicts:

- ``pass`` (``mrz_valid``): every check digit, date, code and cross-check holds;
- ``fail``: the MRZ was read but something does not hold — a check digit (``mrz_check_digit``), the
  expiry (``document_expired``), a date or code (``mrz_invalid_field``), the bank's claimed identity
  (``claim_mismatch``) or the printed visual zone (``visual_zone_mismatch``);
- ``inconclusive``: no model (``mrz_model_missing``), no MRZ found yet (``mrz_not_found``), check
  digits that failed on a read not yet confirmed by other frames (``mrz_unconfirmed``), or an MRZ that
  holds only after the check-digit-guided repair changed look-alike characters (``mrz_repaired``: a
  repair can also "fix" a tampered MRZ, so it is never a pass; the check ``read_without_repair`` fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.mrz.parse import MrzDocument
from pipelines.results import CheckResult, Reason, Verdict

__all__ = ["NAME", "mrz_result", "model_missing_result", "not_found_result"]

NAME = "mrz"


def model_missing_result(detail: str) -> CheckResult:
    return CheckResult.inconclusive(NAME, "mrz_model_missing", f"the MRZ OCR model is not installed: {detail}")


def not_found_result(attempts: int) -> CheckResult:
    return CheckResult.inconclusive(
        NAME, "mrz_not_found", "no machine-readable zone read yet: show the side with the MRZ", attempts=attempts
    )


def _first_failure(checks: Mapping[str, bool]) -> Reason:
    failed = [name for name, ok in checks.items() if not ok]
    if any(name.endswith("_check_digit") for name in failed):
        return Reason("mrz_check_digit", "an MRZ check digit does not match its field: " + ", ".join(failed))
    if any(name.startswith("claim_") for name in failed):
        return Reason("claim_mismatch", "the MRZ does not match the identity the bank claimed: " + ", ".join(failed))
    if any(name.startswith("visual_") for name in failed):
        return Reason("visual_zone_mismatch", "the MRZ does not match the printed data: " + ", ".join(failed))
    if failed == ["not_expired"]:
        return Reason("document_expired", "the document expired before the session date")
    return Reason("mrz_invalid_field", "an MRZ field is not valid: " + ", ".join(failed))


def mrz_result(
    document: MrzDocument,
    *,
    extra_checks: Mapping[str, bool] | None = None,
    confirmed: bool = True,
    repairs: int = 0,
    **measurements: Any,
) -> CheckResult:
    """The report section for a read MRZ. ``extra_checks``: cross-checks (``claim_*``, ``visual_*``).
    ``confirmed``: the text was read consistently (consensus, or a confident single read); an
    unconfirmed read whose check digits fail is inconclusive, not fail, as it may be an OCR error."""
    checks = {**document.checks, **(extra_checks or {})}
    if repairs:
        checks["read_without_repair"] = False
    body: dict[str, Any] = {
        "document_type": document.format.value,
        "lines": list(document.lines),
        "fields": dict(document.fields),
        "checks": {name: (Verdict.PASS if ok else Verdict.FAIL).value for name, ok in checks.items()},
        "valid": all(checks.values()),
        "repairs": repairs,
        **measurements,
    }
    passed = sum(checks.values()) / len(checks)
    if all(checks.values()):
        return CheckResult(NAME, Verdict.PASS, Reason("mrz_valid", "every MRZ check holds"), passed, body)
    if not document.check_digits_hold and not confirmed:
        reason = Reason("mrz_unconfirmed", "the MRZ read so far has failing check digits; reading more frames")
        return CheckResult(NAME, Verdict.INCONCLUSIVE, reason, passed, body)
    if repairs and all(ok for name, ok in checks.items() if name != "read_without_repair"):
        reason = Reason(
            "mrz_repaired", f"the MRZ holds only after correcting {repairs} look-alike character(s); not confirmed"
        )
        return CheckResult(NAME, Verdict.INCONCLUSIVE, reason, passed, body)
    return CheckResult(NAME, Verdict.FAIL, _first_failure(checks), passed, body)
