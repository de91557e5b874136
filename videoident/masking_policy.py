"""Which document fields a tenant may keep, and which are masked in stored and in exported evidence.

Every field of a template is tagged with *why* it may be kept (:class:`Keep`):

- ``identification`` — names, birth date, nationality, the portrait: the point of identifying someone;
- ``document_number`` — German GwG section 8 (2) requires recording the document's type, number and issuing
  authority (on the German ID card the number *is* the serial number);
- ``national_number`` — the Dutch BSN and a passport's personal number: only where a law requires it
  (Dutch Wet algemene bepalingen BSN art. 10: only BSN-users named by law may process it);
- ``never`` — the German card access number (CAN) unlocks the chip over the air (PACE); no purpose needs it;
- ``incidental`` — printed data with no duty to keep it (place of birth, signature, dates, sex...).

A tenant picks a :class:`Profile`; the profile says which tags are masked in what is stored in the vault
and in what is exported to the bank. ``custom`` lists field names explicitly. Masking of the MRZ
characters that repeat a masked field is done by :mod:`pipelines.masking`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pipelines.layouts import Template, ZoneName, layout_for

__all__ = ["Keep", "Profile", "FIELD_TAGS", "MaskingPolicy", "policy_for", "fields_to_mask"]


class Keep(StrEnum):
    IDENTIFICATION = "identification"
    DOCUMENT_NUMBER = "document_number"
    NATIONAL_NUMBER = "national_number"
    NEVER = "never"
    INCIDENTAL = "incidental"
    LAYOUT = "layout"  # the MRZ band and the hologram: masked only through the fields they carry


class Profile(StrEnum):
    DEFAULT = "default"  # mask what no purpose needs: the CAN and national numbers
    GWG_DE = "gwg_de"  # a German bank under the GwG
    WWFT_NL = "wwft_nl"  # a Dutch bank under the Wwft
    CRYPTO_EXCHANGE = "crypto_exchange"  # a crypto-asset service provider (AMLD / MiCA)
    CUSTOM = "custom"  # the tenant lists the masked fields itself


FIELD_TAGS: Mapping[ZoneName, Keep] = MappingProxyType({
    ZoneName.PORTRAIT: Keep.IDENTIFICATION,
    ZoneName.SURNAME: Keep.IDENTIFICATION,
    ZoneName.GIVEN_NAMES: Keep.IDENTIFICATION,
    ZoneName.BIRTHDATE: Keep.IDENTIFICATION,
    ZoneName.NATIONALITY: Keep.IDENTIFICATION,
    ZoneName.DOCUMENT_NUMBER: Keep.DOCUMENT_NUMBER,
    ZoneName.EXPIRY: Keep.DOCUMENT_NUMBER,  # recorded with the number: the document's validity
    ZoneName.BSN: Keep.NATIONAL_NUMBER,
    ZoneName.PERSONAL_NUMBER: Keep.NATIONAL_NUMBER,
    ZoneName.CAN: Keep.NEVER,
    ZoneName.PLACE_OF_BIRTH: Keep.IDENTIFICATION,  # GwG section 11 (4) lists the place of birth
    ZoneName.ISSUE_DATE: Keep.INCIDENTAL,
    ZoneName.SEX: Keep.INCIDENTAL,
    ZoneName.SIGNATURE: Keep.INCIDENTAL,
    ZoneName.MRZ: Keep.LAYOUT,
    ZoneName.OVD: Keep.LAYOUT,
})

# Which tags each profile masks, in the vault ("stored") and in what the bank downloads ("exported").
# Exported is always a superset of stored: nothing leaves the vault less masked than it is kept.
_PROFILE_TAGS: Mapping[Profile, tuple[frozenset[Keep], frozenset[Keep]]] = MappingProxyType({
    Profile.DEFAULT: (frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER}), frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER})),
    # GwG needs the document number and identification data; no German law lets a bank keep a BSN.
    Profile.GWG_DE: (frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER}), frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER})),
    # Dutch banks are BSN-users by law (tax reporting to the Belastingdienst): they keep the BSN.
    Profile.WWFT_NL: (frozenset({Keep.NEVER}), frozenset({Keep.NEVER})),
    # An exchange keeps the identification and document data AMLD asks for; it exports no incidental data.
    Profile.CRYPTO_EXCHANGE: (
        frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER}),
        frozenset({Keep.NEVER, Keep.NATIONAL_NUMBER, Keep.INCIDENTAL}),
    ),
})


@dataclass(frozen=True)
class MaskingPolicy:
    """Masked field names for one tenant: ``stored`` in the vault, ``exported`` to the bank."""

    profile: Profile
    stored: frozenset[ZoneName]
    exported: frozenset[ZoneName]

    def __post_init__(self) -> None:
        if ZoneName.CAN not in self.stored:
            raise ValueError("the card access number is never kept: it must be masked in stored evidence")
        if not self.stored <= self.exported:
            raise ValueError("exported evidence must be masked at least as much as stored evidence")

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile.value, "stored": sorted(self.stored), "exported": sorted(self.exported)}


def _fields_with(tags: frozenset[Keep]) -> frozenset[ZoneName]:
    return frozenset(name for name, tag in FIELD_TAGS.items() if tag in tags)


def _names(values: Iterable[str]) -> frozenset[ZoneName]:
    return frozenset(ZoneName(v) for v in values)


def policy_for(profile: Profile | str, custom: Mapping[str, Any] | None = None) -> MaskingPolicy:
    """The policy of a profile; ``custom`` = {"stored": [...], "exported": [...]} for :attr:`Profile.CUSTOM`
    (the CAN is always added to both, and stored fields are added to exported)."""
    profile = Profile(profile)
    if profile is Profile.CUSTOM:
        if custom is None:
            raise ValueError("the custom profile needs its lists of masked fields")
        stored = _names(custom.get("stored", [])) | {ZoneName.CAN}
        exported = _names(custom.get("exported", [])) | stored
        return MaskingPolicy(profile, stored, exported)
    stored_tags, exported_tags = _PROFILE_TAGS[profile]
    return MaskingPolicy(profile, _fields_with(stored_tags), _fields_with(exported_tags))


def fields_to_mask(policy: MaskingPolicy, template: Template | str, *, exported: bool) -> frozenset[ZoneName]:
    """The policy's fields that exist on ``template`` (stored or exported variant)."""
    layout = layout_for(template)
    wanted = policy.exported if exported else policy.stored
    return frozenset(name for name in wanted if name in layout.zones)
