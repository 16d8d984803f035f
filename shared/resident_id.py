"""Resident ID numbers (居民身份证号码, GB 11643-1999): 18 characters, last one a check digit.

Layout: 6-digit region of first registration, 8-digit birth date, 3-digit sequence (odd for
men, even for women), check character computed with ISO 7064 MOD 11-2.

A national standard, read by intake (the application), the window (its form), verification (a
partner's records) and the demo's households: one definition for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # ISO 7064 MOD 11-2
CHECK_CHARS = "10X98765432"  # by the weighted sum of the first 17 digits, modulo 11
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
# The age of majority (Civil Code art. 17): a law's figure, not a policy's, so not in a policy
# file. Intake, verification and approval each ask whether a member is an adult.
ADULT_AGE = 18


class InvalidResidentId(ValueError):
    """The number is not a valid resident ID number; the message says why."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    sex: str  # "female" | "male"

    @property
    def masked(self) -> str:
        """For screens and receipts: region and last four characters only."""
        return self.number[:6] + "*" * 8 + self.number[-4:]


def check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_resident_id(raw: str, *, today: date) -> ResidentId:
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise InvalidResidentId("must be 17 digits followed by a digit or X (18 characters)")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise InvalidResidentId(f"check digit is {number[17]}, the number requires {expected}")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidResidentId(f"birth date {number[6:14]} is not a real date") from exc
    if born > today or born.year < 1890:
        raise InvalidResidentId(f"birth date {born.isoformat()} is not plausible")
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, birth_date=born, sex=sex)


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
