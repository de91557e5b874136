"""Re-identification against a stored reference (crypto exchanges unblocking an account).

A *face template* is the 128-float encoding of a customer's live face from an earlier, completed session.
This module only turns it into bytes and back and compares; encrypting it at rest is the core's job
(videoident's vault). Byte layout (little-endian), version 1::

    b"VIFT" | u8 version=1 | u8 len(encoder) | encoder tag (ASCII) | 128 x float32

float32 keeps 7 significant digits, far below the ~0.01 distance resolution that matters.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

import numpy as np

from pipelines.face import match
from pipelines.results import CheckResult, Reason, Verdict

__all__ = [
    "ENCODER_TAG",
    "REID_MATCH_THRESHOLD",
    "FaceTemplate",
    "template_to_bytes",
    "template_from_bytes",
    "normalise_document_number",
    "reidentify",
]

_MAGIC = b"VIFT"
_VERSION = 1
#: Which encoder made the template; templates of another encoder are never compared.
ENCODER_TAG = "dlib_resnet_v1"
#: Live face against a live face (no document photo in between): the photo-vs-photo condition of the
#: calibration (docs/face.md), where FMR <= 0.1% held up to 0.54 (the closest different-person pair,
#: a deliberate look-alike, is at 0.55).
REID_MATCH_THRESHOLD = 0.54


@dataclass(frozen=True)
class FaceTemplate:
    """A stored face: float64 (128,) encoding and the encoder it came from."""

    encoding: np.ndarray
    encoder: str = ENCODER_TAG

    def __post_init__(self) -> None:
        if self.encoding.shape != (128,) or not np.all(np.isfinite(self.encoding)):
            raise ValueError("a face template is 128 finite floats")
        if not self.encoder or len(self.encoder) > 255 or not self.encoder.isascii():
            raise ValueError("encoder tag must be 1-255 ASCII characters")


def template_to_bytes(template: FaceTemplate) -> bytes:
    tag = template.encoder.encode("ascii")
    return _MAGIC + struct.pack("<BB", _VERSION, len(tag)) + tag + template.encoding.astype("<f4").tobytes()


def template_from_bytes(blob: bytes) -> FaceTemplate:
    """Parse :func:`template_to_bytes` output; ``ValueError`` on anything else (wrong magic, version,
    truncated or trailing bytes)."""
    if len(blob) < 6 or blob[:4] != _MAGIC:
        raise ValueError("not a face template")
    version, tag_len = struct.unpack("<BB", blob[4:6])
    if version != _VERSION:
        raise ValueError(f"unsupported face template version {version}")
    end = 6 + tag_len
    if len(blob) != end + 128 * 4:
        raise ValueError("face template has the wrong length")
    encoder = blob[6:end].decode("ascii")
    encoding = np.frombuffer(blob[end:], dtype="<f4").astype(np.float64)
    return FaceTemplate(encoding, encoder)


def normalise_document_number(number: str) -> str:
    """Upper case, without spaces, dashes and MRZ filler ``<``."""
    return "".join(ch for ch in number.upper() if ch.isalnum())


def reidentify(
    live_encoding: np.ndarray,
    document_number: str | None,
    reference: FaceTemplate,
    reference_document_number: str,
    model_version: str,
    threshold: float = REID_MATCH_THRESHOLD,
    fail_threshold: float = match.NON_MATCH_THRESHOLD,
) -> CheckResult:
    """The ``reidentification`` check: the live face against the stored template, and the document shown
    against the stored document number.

    A face mismatch fails. A face match with the same document passes. A face match with another
    document number is inconclusive (``document_changed``: a renewed document is legitimate, an agent
    checks it); no document number read is inconclusive too. Numbers are compared in constant time.
    """
    name = "reidentification"
    if reference.encoder != ENCODER_TAG:
        return CheckResult.inconclusive(
            name, "template_incompatible", f"the stored template is from encoder {reference.encoder!r}"
        )
    face = match.decide(
        match.face_distance(live_encoding, reference.encoding), model_version, threshold, fail_threshold, name
    )
    same_document: bool | None = None
    if document_number:
        same_document = hmac.compare_digest(
            normalise_document_number(document_number).encode(),
            normalise_document_number(reference_document_number).encode(),
        )
    m = {**face.measurements, "same_document": same_document}
    if face.verdict is not Verdict.PASS:
        return CheckResult(name, face.verdict, face.reason, face.score, m)
    if same_document is None:
        reason = Reason("document_number_missing", "same face; the document number was not read")
        return CheckResult(name, Verdict.INCONCLUSIVE, reason, face.score, m)
    if not same_document:
        reason = Reason("document_changed", "same face but another document than the stored one: check it")
        return CheckResult(name, Verdict.INCONCLUSIVE, reason, face.score, m)
    reason = Reason("same_person_same_document", "same face, same document")
    return CheckResult(name, Verdict.PASS, reason, face.score, m)
