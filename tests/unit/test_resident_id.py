from datetime import date

import pytest

from deploy.households import resident_id
from shared.resident_id import (
    InvalidResidentId,
    age_on,
    check_character,
    parse_resident_id,
)

TODAY = date(2026, 11, 22)


def test_check_character_of_the_standard_example():
    # The worked example of GB 11643-1999: 11010519491231002 → X.
    assert check_character("11010519491231002") == "X"


def test_valid_number_gives_birth_date_and_sex():
    parsed = parse_resident_id("11010519491231002x", today=TODAY)
    assert parsed.number == "11010519491231002X"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"  # 002: even sequence
    assert parsed.masked == "110105********002X"


def test_odd_sequence_is_male():
    number = resident_id("330282", date(1980, 2, 29), 11)
    assert parse_resident_id(number, today=TODAY).sex == "male"


@pytest.mark.parametrize(("number", "reason"), [
    ("110105194912310021", "check digit is 1, the number requires X"),
    ("11010519491231002", "18 characters"),
    ("1101051949123100AX", "18 characters"),
    ("330282" + "19810229" + "001", "18 characters"),
])
def test_invalid_numbers_say_why(number, reason):
    with pytest.raises(InvalidResidentId, match=reason):
        parse_resident_id(number, today=TODAY)


def test_impossible_and_future_birth_dates_are_refused():
    feb30 = "33028219810230001"
    with pytest.raises(InvalidResidentId, match="not a real date"):
        parse_resident_id(feb30 + check_character(feb30), today=TODAY)
    future = "33028220300101001"
    with pytest.raises(InvalidResidentId, match="not plausible"):
        parse_resident_id(future + check_character(future), today=TODAY)


def test_age_turns_on_the_birthday():
    assert age_on(date(2008, 11, 23), TODAY) == 17
    assert age_on(date(2008, 11, 22), TODAY) == 18
