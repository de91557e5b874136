"""MRZ-aware OCR post-processing, consensus voting and cross-checks (pure text logic)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.identity import ClaimedIdentity
from pipelines.mrz.consensus import MIN_AGREEING_READS, MrzConsensus
from pipelines.mrz.crosscheck import compare_to_claim, names_match, parse_printed_date, transliterate
from pipelines.mrz.formats import FORMATS, MrzFormat
from pipelines.mrz.parse import parse_mrz
from pipelines.mrz.read import MrzRead, read_lines
from pipelines.mrz.repair import apply_classes, clean_read, fit_line, normalise_line, repair_check_digits
from pipelines.mrz.result import mrz_result
from pipelines.results import Verdict
from tests.test_mrz_parse import BEFORE_EXPIRY, GERMAN_TD1, ICAO_TD1, ICAO_TD3

TD3 = FORMATS[MrzFormat.TD3]


def test_character_classes_fix_digit_and_letter_lookalikes() -> None:
    ocr = ("P<UT0ERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UT074O8I22F12O4159ZE184226B<<<<<1O")
    assert apply_classes(TD3, ocr) == ICAO_TD3


def test_normalise_and_fit_lines() -> None:
    assert normalise_line("p<uto eriksson«anna") == "P<UTOERIKSSON<<ANNA"
    # a filler run miscounted by OCR is fixed inside the run; a short names line is padded
    assert fit_line("ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<", 30) == ICAO_TD1[2]
    assert fit_line("ERIKSSON<<ANNA<MARIA<<<<<<", 30) == ICAO_TD1[2]
    assert fit_line("L898902C36UTO7408122F1204159ZE184226B<<<<<<10", 44) == ICAO_TD3[1]
    assert fit_line("SHORT", 30) is None


def test_check_digit_guided_repair_accepts_only_a_unique_fix() -> None:
    # 'L898902C3' read with O for the 0: only O->0 makes both number and composite hold.
    broken = (ICAO_TD3[0], ICAO_TD3[1].replace("L898902C3", "L8989O2C3"))
    fixed, repairs = repair_check_digits(TD3, broken)
    assert fixed == ICAO_TD3 and repairs == 1
    # 'ZE184226B' -> 'ZE1B4226B': Z->2 at the start would satisfy both digits as well as B->8: refused.
    ambiguous_td3 = (ICAO_TD3[0], ICAO_TD3[1].replace("ZE184226B", "ZE1B4226B"))
    assert repair_check_digits(TD3, ambiguous_td3) == (ambiguous_td3, 0)
    # In the TD1 document number, B->8 and several other look-alike swaps would all satisfy both digits
    # (the composite weights the number exactly as its own check digit does): ambiguous, so no repair.
    td1 = FORMATS[MrzFormat.TD1]
    ambiguous = (ICAO_TD1[0].replace("D23145890", "D23145B90"), *ICAO_TD1[1:])
    assert repair_check_digits(td1, ambiguous) == (ambiguous, 0)


def test_a_tampered_date_is_never_repaired_into_validity() -> None:
    tampered = (ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7508122"))
    cleaned = clean_read(tampered)
    assert cleaned is not None
    _, literal, lines, repairs = cleaned
    doc = parse_mrz(lines, BEFORE_EXPIRY)
    assert not doc.check_digits_hold and repairs == 0 and literal == lines


# A fixtures/ tampered card: document number VUD7SJVM5 printed as VUD3SJVM5, check digits left as they were.
# Two look-alike swaps (D->0, S->5) make both digits hold again: a "repair" that would hide the forgery.
TAMPERED_TD1 = ("I<NLDVUD3SJVM50872017461<<<<<<", "6712190M3407057NLD<<<<<<<<<<<2", "VAN<LEEUWEN<<WILLEM<<<<<<<<<<<")


def test_a_repaired_read_is_never_a_pass() -> None:
    read = _read(TAMPERED_TD1)
    assert read.repairs > 0 and read.check_digits_hold and not read.literal_holds
    assert read.document is not None
    result = mrz_result(read.document, repairs=read.repairs)
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "mrz_repaired"
    assert result.measurements["valid"] is False
    assert result.measurements["checks"]["read_without_repair"] == "fail"


def test_frames_agreeing_on_a_tampered_number_fail_it_despite_a_possible_repair() -> None:
    consensus = MrzConsensus(dt.date(2026, 11, 25))
    consensus.add(_read(TAMPERED_TD1))
    first = consensus.state()
    assert first.repairs > 0 and not first.reached  # one read: the repair is offered, unconfirmed
    consensus.add(_read(TAMPERED_TD1))
    state = consensus.state()
    assert state.repairs == 0 and state.identical == 2 and not state.reached
    assert state.document is not None and state.document.lines == TAMPERED_TD1
    result = mrz_result(state.document, confirmed=True, repairs=state.repairs)
    assert result.verdict is Verdict.FAIL and result.reason.code == "mrz_check_digit"


def test_clean_read_drops_a_stray_leading_mark() -> None:
    raw = ["IIDD<<T220001293<<<<<<<<<<<<<<<", "6408125<2010315D<<<<<<<<<<<<<4", "MUSTERMANN<<ERIKA<<<<<<<<<<<<<"]
    cleaned = clean_read(raw)
    assert cleaned is not None and cleaned[1] == cleaned[2] == GERMAN_TD1


def _read(lines: tuple[str, ...], confidence: float = 0.9) -> MrzRead:
    from models.ocr import OcrText

    return read_lines([OcrText(x, confidence) for x in lines], BEFORE_EXPIRY)


def test_consensus_votes_out_single_frame_errors() -> None:
    consensus = MrzConsensus(BEFORE_EXPIRY)
    bad1 = (ICAO_TD3[0].replace("ERIKSSON", "ERIKSS0M"), ICAO_TD3[1])  # name misread: digits still hold
    bad2 = (ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7408172"))  # date misread: digits fail
    bad3 = (ICAO_TD3[0].replace("MARIA", "MAPIA"), ICAO_TD3[1].replace("L898", "L398"))
    for lines in (bad2, bad3, ICAO_TD3):
        consensus.add(_read(lines))
    state = consensus.state()
    assert state.document is not None and state.document.lines == ICAO_TD3
    assert not state.reached  # one exact read is not yet consensus
    consensus.add(_read(bad1))  # a misread name keeps every check digit: only agreement catches it
    consensus.add(_read(ICAO_TD3))
    state = consensus.state()
    assert state.document is not None and state.document.lines == ICAO_TD3
    assert state.reached and state.agreeing == MIN_AGREEING_READS


def test_consensus_of_a_tampered_mrz_stays_invalid() -> None:
    tampered = (ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7508122"))
    consensus = MrzConsensus(BEFORE_EXPIRY)
    for _ in range(4):
        consensus.add(_read(tampered))
    state = consensus.state()
    assert state.document is not None and not state.document.check_digits_hold and not state.reached
    result = mrz_result(state.document, confirmed=state.identical >= MIN_AGREEING_READS)
    assert result.verdict is Verdict.FAIL and result.reason.code == "mrz_check_digit"


def test_transliteration_and_name_matching() -> None:
    assert transliterate("Müller-Lüdenscheidt") == "MUELLER LUEDENSCHEIDT"
    assert transliterate("Groß") == "GROSS"
    assert transliterate("O'Brien") == "OBRIEN"
    assert transliterate("Ærøskøbing") == "AEROESKOEBING"
    assert names_match("MUELLER", "Müller", truncated=False)
    assert names_match("MULLER", "Müller", truncated=False)  # states that drop the umlaut
    assert not names_match("MUELLER", "Mueller-Schmidt", truncated=False)
    assert names_match("SCHMIDT<MUELLER<LUEDENSC".replace("<", " "), "Schmidt-Müller-Lüdenscheidt", truncated=True)


def test_claim_cross_check_flags_a_name_mismatch() -> None:
    doc = parse_mrz(ICAO_TD3, BEFORE_EXPIRY)
    right = ClaimedIdentity("Anna Maria", "Eriksson", dt.date(1974, 8, 12), "L898902C3", "UTO")
    assert all(compare_to_claim(doc, right).values())
    wrong = ClaimedIdentity("Anna Maria", "Eriksen", dt.date(1974, 8, 12))
    checks = compare_to_claim(doc, wrong)
    assert checks["claim_family_name"] is False and checks["claim_birth_date"] is True
    result = mrz_result(doc, extra_checks=checks)
    assert result.verdict is Verdict.FAIL and result.reason.code == "claim_mismatch"
    assert result.measurements["checks"]["claim_family_name"] == "fail"


def test_claim_nationality_d_equals_deu() -> None:
    doc = parse_mrz(GERMAN_TD1, dt.date(2015, 1, 1))
    claim = ClaimedIdentity("Erika", "Mustermann", dt.date(1964, 8, 12), nationality="DEU")
    assert all(compare_to_claim(doc, claim).values())


def test_claimed_identity_validates_and_hides_itself() -> None:
    with pytest.raises(ValueError):
        ClaimedIdentity("", "Eriksson", dt.date(1974, 8, 12))
    with pytest.raises(ValueError):
        ClaimedIdentity("Anna", "Eriksson", dt.date(1974, 8, 12), nationality="12")
    assert "Eriksson" not in repr(ClaimedIdentity("Anna", "Eriksson", dt.date(1974, 8, 12)))


def test_printed_dates() -> None:
    assert parse_printed_date("12.08.1974") == dt.date(1974, 8, 12)
    assert parse_printed_date("12 AUG/AOUT 1974") == dt.date(1974, 8, 12)
    assert parse_printed_date("1974-08-12") == dt.date(1974, 8, 12)
    assert parse_printed_date("31.02.1974") is None


def test_parsed_mrz_and_reads_keep_personal_data_out_of_repr() -> None:
    doc = parse_mrz(ICAO_TD3, BEFORE_EXPIRY)
    read = _read(ICAO_TD3)
    for text in (repr(doc), repr(read), str(doc)):
        assert "ERIKSSON" not in text and "L898902C3" not in text and "740812" not in text


def test_result_verdicts() -> None:
    valid = mrz_result(parse_mrz(ICAO_TD3, BEFORE_EXPIRY))
    assert valid.verdict is Verdict.PASS and valid.measurements["lines"] == list(ICAO_TD3)
    expired = mrz_result(parse_mrz(ICAO_TD3, dt.date(2026, 1, 1)))
    assert expired.verdict is Verdict.FAIL and expired.reason.code == "document_expired"
    misread = parse_mrz((ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7408172")), BEFORE_EXPIRY)
    assert mrz_result(misread, confirmed=False).verdict is Verdict.INCONCLUSIVE
