from pipelines.mrz.checkdigit import check_digit


def test_icao_specimen_check_digits() -> None:
    # ICAO 9303 part 4 specimen: L898902C3 / 740812 / 120415 with check digits 6, 2, 9.
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
