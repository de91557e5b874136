"""MRZ text parsing and validation (pure): ICAO specimens, German D<<, dates, codes, tampering, fuzzing."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.mrz.checkdigit import MRZ_ALPHABET, check_digit
from pipelines.mrz.formats import FORMATS, MrzFormat
from pipelines.mrz.parse import MrzShapeError, infer_birth_date, infer_expiry_date, parse_mrz, split_names
from pipelines.mrz.repair import check_groups

ICAO_TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
ICAO_TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
ICAO_TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
# German identity card specimen (Bundesdruckerei, ERIKA MUSTERMANN), issuing state "D<<".
GERMAN_TD1 = ("IDD<<T220001293<<<<<<<<<<<<<<<", "6408125<2010315D<<<<<<<<<<<<<4", "MUSTERMANN<<ERIKA<<<<<<<<<<<<<")
BEFORE_EXPIRY = dt.date(2010, 1, 1)


@pytest.mark.parametrize("lines", [ICAO_TD3, ICAO_TD2, ICAO_TD1], ids=["TD3", "TD2", "TD1"])
def test_icao_specimens_parse_and_validate(lines: tuple[str, ...]) -> None:
    doc = parse_mrz(lines, BEFORE_EXPIRY)
    assert doc.valid, doc.failed_checks
    assert doc.fields["surname"] == "ERIKSSON"
    assert doc.fields["given_names"] == "ANNA MARIA"
    assert doc.fields["birth_date"] == "1974-08-12"
    assert doc.fields["expiry_date"] == "2012-04-15"
    assert doc.fields["sex"] == "F"
    assert doc.fields["issuing_state"] == doc.fields["nationality"] == "UTO"
    assert doc.fields["document_number"] == ("L898902C3" if len(lines) == 2 and len(lines[0]) == 44 else "D23145890")


def test_td3_has_personal_number_and_composite() -> None:
    doc = parse_mrz(ICAO_TD3, BEFORE_EXPIRY)
    assert doc.fields["optional_data"] == "ZE184226B"
    assert doc.checks["optional_data_check_digit"] and doc.checks["composite_check_digit"]


def test_german_one_letter_code() -> None:
    doc = parse_mrz(GERMAN_TD1, dt.date(2015, 6, 1))
    assert doc.valid, doc.failed_checks
    assert doc.fields["issuing_state"] == "D" and doc.fields["nationality"] == "D"
    assert doc.fields["document_code"] == "ID"
    assert doc.fields["sex"] == ""  # '<' = unspecified
    assert doc.fields["surname"] == "MUSTERMANN" and doc.fields["given_names"] == "ERIKA"


def test_expired_document_fails_only_expiry() -> None:
    doc = parse_mrz(ICAO_TD3, dt.date(2026, 11, 25))
    assert doc.failed_checks == ["not_expired"]
    assert doc.check_digits_hold


@pytest.mark.parametrize(
    ("line", "index", "char", "failing"),
    [
        (1, 19, "3", {"birth_date_check_digit", "composite_check_digit"}),  # tampered check digit
        (1, 14, "5", {"birth_date_check_digit", "composite_check_digit"}),  # tampered birth year 74 -> 75
        (1, 3, "9", {"document_number_check_digit", "composite_check_digit"}),
        (1, 22, "3", {"expiry_date_check_digit", "composite_check_digit"}),
        (1, 30, "X", {"optional_data_check_digit", "composite_check_digit"}),
        (1, 43, "1", {"composite_check_digit"}),
    ],
)
def test_tampering_is_reported(line: int, index: int, char: str, failing: set[str]) -> None:
    lines = list(ICAO_TD3)
    assert lines[line][index] != char
    lines[line] = lines[line][:index] + char + lines[line][index + 1 :]
    doc = parse_mrz(lines, BEFORE_EXPIRY)
    assert set(doc.failed_checks) == failing


def test_name_and_nationality_are_not_covered_by_check_digits_but_codes_are_validated() -> None:
    # 'UTO' misread as 'UT0' keeps every check digit (passporteye scored it 100): we flag it.
    lines = [ICAO_TD3[0], ICAO_TD3[1].replace("UTO", "UT0")]
    doc = parse_mrz(lines, BEFORE_EXPIRY)
    assert doc.check_digits_hold
    assert {"nationality_code", "character_classes"} <= set(doc.failed_checks)
    unknown = [ICAO_TD3[0].replace("P<UTO", "P<XYZ"), ICAO_TD3[1]]
    assert parse_mrz(unknown, BEFORE_EXPIRY).failed_checks == ["issuing_state_code"]


def test_dates_must_be_real_and_birth_in_the_past() -> None:
    body = "7413322"  # 32 December... month 13
    line2 = ICAO_TD1[1].replace("7408122", body)
    doc = parse_mrz([ICAO_TD1[0], line2, ICAO_TD1[2]], BEFORE_EXPIRY)
    assert not doc.checks["birth_date_valid"]
    assert doc.fields["birth_date"] is None
    # born after the session date
    future = "250101" + check_digit("250101")
    line2 = ICAO_TD1[1].replace("7408122", future)
    doc = parse_mrz([ICAO_TD1[0], line2, ICAO_TD1[2]], dt.date(2024, 1, 1))
    assert doc.fields["birth_date"] == "1925-01-01"  # century inferred: 2025 is after the session


def test_century_inference() -> None:
    ref = dt.date(2026, 11, 25)
    assert infer_birth_date("740812", ref) == dt.date(1974, 8, 12)
    assert infer_birth_date("200229", ref) == dt.date(2020, 2, 29)
    assert infer_birth_date("261231", ref) == dt.date(1926, 12, 31)  # not born in the future
    assert infer_expiry_date("120415", ref) == dt.date(2012, 4, 15)
    assert infer_expiry_date("351231", ref) == dt.date(2035, 12, 31)
    assert infer_expiry_date("991231", ref) == dt.date(1999, 12, 31)
    assert infer_birth_date("74<<<<", ref) is None


def test_long_document_number_td1() -> None:
    # ICAO 9303 part 5 example: number D23145890734 (12 chars), check 9, continued in optional data.
    line1 = "I<UTOD23145890<7349<<<<<<<<<<<"
    body = line1[5:30]
    line2 = "3407127M9507122UTO<<<<<<<<<<<"
    line2 += check_digit(body + line2[0:7] + line2[8:15] + line2[18:29])
    doc = parse_mrz([line1, line2, "STEVENSON<<PETER<JOHN<<<<<<<<<"], dt.date(1990, 1, 1))
    assert doc.fields["document_number"] == "D23145890734"
    assert doc.checks["document_number_check_digit"], doc.failed_checks


def test_visa_has_no_composite() -> None:
    line2 = "L8988901C4XXX4009078F9612109<<<<<<<<<<<<<<<<"
    doc = parse_mrz(["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", line2], dt.date(1995, 1, 1))
    assert doc.fields["visa"] is True
    assert "composite_check_digit" not in doc.checks
    assert doc.checks["document_number_check_digit"] and doc.checks["birth_date_check_digit"]


def test_split_names() -> None:
    assert split_names("DE<VRIES<<JAN<KEES<<<<") == ("DE VRIES", "JAN KEES")
    assert split_names("MADONNA<<<<<<") == ("MADONNA", "")


def test_wrong_shape_raises() -> None:
    with pytest.raises(MrzShapeError):
        parse_mrz(["P<UTO", "L898"], BEFORE_EXPIRY)
    with pytest.raises(MrzShapeError):
        parse_mrz([ICAO_TD3[0], ICAO_TD3[1][:40]], BEFORE_EXPIRY)


# ---- property tests: 10,000 strings into the parser, no crash, every check-digit failure reported ----

_SHAPES = [(3, 30), (2, 36), (2, 44)]


def _expected_check_digits(lines: list[str]) -> dict[int, bool]:
    """Independent recomputation: for every check digit position, does it hold?"""
    spec = next(s for s in FORMATS.values() if (s.line_count, len(lines[0])) == (len(lines), s.line_length))
    from pipelines.mrz.formats import format_for_shape

    spec = format_for_shape(len(lines), len(lines[0]), lines[0][:1]) or spec
    out = {}
    for covered, (cl, ci) in check_groups(spec, lines):
        data = "".join(lines[ln][i] for ln, i in covered)
        out[cl * 100 + ci] = lines[cl][ci].isdigit() and check_digit(data) == lines[cl][ci]
    return out


@st.composite
def _random_mrz(draw: st.DrawFn) -> list[str]:
    count, length = draw(st.sampled_from(_SHAPES))
    text = st.text(alphabet=MRZ_ALPHABET, min_size=length, max_size=length)
    return [draw(text) for _ in range(count)]


#: Strings per hypothesis example; 1,000 examples per test x 5 = 5,000 random + 5,000 mutated strings.
_BATCH = 5


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_random_mrz(), min_size=_BATCH, max_size=_BATCH))
def test_random_strings_never_crash_and_check_digits_are_reported(batch: list[list[str]]) -> None:
    for lines in batch:
        doc = parse_mrz(lines, dt.date(2026, 11, 25))
        expected = _expected_check_digits(lines)
        digit_checks = {k: v for k, v in doc.checks.items() if k.endswith("_check_digit")}
        if not all(expected.values()):
            assert not all(digit_checks.values())
            assert not doc.valid
        assert doc.valid == all(doc.checks.values())


_MUTATION = st.tuples(
    st.sampled_from([ICAO_TD3, ICAO_TD2, ICAO_TD1, GERMAN_TD1]),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(MRZ_ALPHABET + "x-é "),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(MRZ_ALPHABET),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_MUTATION, min_size=_BATCH, max_size=_BATCH))
def test_mutated_specimens_report_every_check_digit_failure(
    batch: list[tuple[tuple[str, ...], int, str, int, str]],
) -> None:
    for lines, where, char, where2, char2 in batch:
        flat = list("".join(lines))
        flat[where % len(flat)] = char
        if where2 % 3 == 0:  # a third of the cases carry a second substitution
            flat[where2 % len(flat)] = char2
        mutated = "".join(flat)
        width = len(lines[0])
        rows = [mutated[i : i + width] for i in range(0, len(mutated), width)]
        doc = parse_mrz(rows, dt.date(2011, 1, 1))
        if any(c not in MRZ_ALPHABET for c in mutated):
            assert not doc.checks["charset"] and not doc.valid
            continue
        expected = _expected_check_digits(rows)
        if not all(expected.values()):
            assert not doc.check_digits_hold
            assert not doc.valid
        else:
            assert doc.check_digits_hold


def test_formats_cover_their_lines() -> None:
    for spec in FORMATS.values():
        assert spec.format in MrzFormat
        covered = {(f.line, i) for f in spec.fields for i in range(f.start, f.stop)}
        assert len(covered) == spec.line_count * spec.line_length
