"""Codes allowed in the issuing-state and nationality fields of an MRZ (ICAO 9303 part 3, section 5).

ISO 3166-1 alpha-3 codes, plus the codes ICAO adds: ``D`` (Germany, written ``D<<``), the United Nations
and EU codes, the British national categories, refugees and stateless persons, and ``UTO`` (Utopia, the
fictional state of ICAO's specimens, accepted so the specimens validate; flagged in ``SPECIMEN_CODES``).
"""

from __future__ import annotations

__all__ = ["ISO_ALPHA3", "ICAO_SPECIAL", "SPECIMEN_CODES", "is_known_code", "normalise_code"]

ISO_ALPHA3 = frozenset(
    """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR BHS
    BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV
    CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM
    GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN
    IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE
    LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS
    MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK
    PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR
    SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY
    USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
    """.split()
)

#: ICAO 9303 part 3, 5.1 and appendix: codes that are not ISO 3166-1 countries but valid in an MRZ.
ICAO_SPECIAL = frozenset(
    """
    D EUE UNO UNA UNK XOM XPO XCC XCE XCO XEC XES XIM XMP XDC XSC XBA XAA XXA XXB XXC XXX RKS
    GBD GBN GBO GBP GBS ANT NTZ
    """.split()
)

#: Codes of fictional states used on ICAO specimens: accepted so that specimens validate.
SPECIMEN_CODES = frozenset({"UTO"})


def normalise_code(raw: str) -> str:
    """A 3-position MRZ code without its trailing fillers: ``D<<`` -> ``D``."""
    return raw.rstrip("<")


def is_known_code(raw: str) -> bool:
    """Whether a 3-position MRZ country field holds a code ICAO allows (``D<<``, ``DEU``, ``XXA``...)."""
    code = normalise_code(raw)
    if len(raw) != 3 or "<" in code:
        return False
    return code in ISO_ALPHA3 or code in ICAO_SPECIAL or code in SPECIMEN_CODES
