"""Sample households for the demo, the tests and the benchmark, with matching partner data.

Deterministic for a seed. Every person of one call is a different person, and different seeds
give different persons (a household with an open case cannot apply again). All persons are
invented; their resident ID numbers have valid check digits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shared.resident_id import check_character

REGION = "330282"  # 慈溪市 Cixi, whose 2021 Dibao standard is a seed fact
# The towns of the demo staff accounts (services/window/service_layer/demo.py): each household
# applies in one of them, so the demo town reviewer finds the cases on the home page.
TOWNS = ("330282001", "330282002")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "海燕", "丽华", "国庆", "明", "静", "伟", "芳", "军",
         "小红", "子涵", "浩然", "雨桐"]


def resident_id(region: str, born: date, sequence: int) -> str:
    """A resident ID number with a valid check character (sequence odd = male)."""
    first17 = f"{region}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)


@dataclass
class Household:
    label: str  # what makes this household approve or reject, for the demo's print-out
    expect: str  # approved | rejected
    members: list[dict[str, Any]]
    partner_records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    programme: str = "dibao"
    extra: dict[str, Any] = field(default_factory=dict)  # programme-specific parts of the form
    town_code: str = TOWNS[0]

    def application(self) -> dict[str, Any]:
        return {"region_code": REGION, "town_code": self.town_code, "programme": self.programme,
                "members": self.members, **self.extra}


# (label, expected outcome), in the proportions the demo shows: 7 of 10 approved.
PROFILES = [
    ("elderly pensioner living alone", "approved"),
    ("couple with a child on low wages", "approved"),
    ("widow with two children, no income", "approved"),
    ("unemployed couple", "approved"),
    ("grandparent raising a grandchild", "approved"),
    ("disabled worker with a small pension", "approved"),
    ("single parent on part-time wages", "approved"),
    ("income above the standard (wages on record)", "rejected"),
    ("owns a car", "rejected"),
    ("owns a second property", "rejected"),
]


def make_households(n: int, seed: int = 2021) -> list[Household]:
    rng = random.Random(seed)
    # Person n of this call gets birth day (start + n // 999) of the year its age gives, and
    # sequence number (first + n) % 999 + 1: distinct within a call (up to ~360,000 persons),
    # and a seed's own start and first keep different seeds' persons apart.
    numbering = (rng.randrange(365), rng.randrange(999))
    households = []
    for i in range(n):
        label, expect = PROFILES[i % len(PROFILES)]
        households.append(_household(rng, numbering, i, label, expect))
    return households


def _person(rng: random.Random, numbering: tuple[int, int], i: int, k: int, relation: str,
            age: int, incomes: list[tuple[str, int]]) -> dict[str, Any]:
    n = i * 4 + k  # no household has more than four members
    start, first = numbering
    born = date(date.today().year - age, 1, 1) + timedelta(days=(start + n // 999) % 365)
    number = resident_id(REGION, born, (first + n) % 999 + 1)
    person: dict[str, Any] = {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "resident_id": number,
        "relation": relation,
        "declared_incomes": [{"kind": kind, "monthly_amount_fen": fen} for kind, fen in incomes],
    }
    if age >= 18:
        person["consent_signed_on"] = "2026-01-05"
    return person


def _household(rng: random.Random, numbering: tuple[int, int], i: int, label: str,
               expect: str) -> Household:
    def p(k: int, rel: str, age: int, inc: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
        return _person(rng, numbering, i, k, rel, age, list(inc))

    records: dict[str, list[dict[str, Any]]] = {}

    def record(dept: str, kind: str, member: dict[str, Any], fen: int) -> None:
        records.setdefault(dept, []).append({
            "record_id": f"{dept}-{i}-{kind}-{member['resident_id'][-6:]}", "kind": kind,
            "resident_id": member["resident_id"], "amount_fen": fen, "as_of": "2026-10-31"})

    if label.startswith("elderly"):
        members = [p(0, "applicant", 72, [("pension", 60_000)])]
        record("hr_social_security", "pension", members[0], 60_000)
    elif label.startswith("couple with a child"):
        members = [p(0, "applicant", 38, [("wage", 120_000)]),
                   p(1, "spouse", 36, [("wage", 60_000)]), p(2, "child", 9)]
        record("hr_social_security", "wage", members[0], 120_000)
    elif label.startswith("widow"):
        members = [p(0, "applicant", 41), p(1, "child", 12), p(2, "child", 7)]
        record("bank", "deposit", members[0], 350_000)
    elif label.startswith("unemployed"):
        members = [p(0, "applicant", 50, [("transfer", 30_000)]), p(1, "spouse", 49)]
    elif label.startswith("grandparent"):
        members = [p(0, "applicant", 68, [("pension", 90_000)]), p(1, "grandchild", 10)]
        record("hr_social_security", "pension", members[0], 90_000)
        record("real_estate_registry", "real_estate", members[0], 40_000_000)
    elif label.startswith("disabled"):
        members = [p(0, "applicant", 45, [("pension", 70_000)])]
        members[0]["disability_grade"] = 2
        record("hr_social_security", "pension", members[0], 70_000)
    elif label.startswith("single parent"):
        members = [p(0, "applicant", 33, [("wage", 110_000)]), p(1, "child", 5)]
        record("hr_social_security", "wage", members[0], 110_000)
    elif label.startswith("income above"):
        # Declares little; the wage on record is what counts.
        members = [p(0, "applicant", 35, [("wage", 50_000)]), p(1, "spouse", 34)]
        record("hr_social_security", "wage", members[0], 420_000)
    elif label.startswith("owns a car"):
        members = [p(0, "applicant", 47, [("wage", 80_000)])]
        record("public_security", "vehicle", members[0], 6_000_000)
    else:
        members = [p(0, "applicant", 55, [("wage", 90_000)]), p(1, "spouse", 54)]
        record("real_estate_registry", "real_estate", members[0], 80_000_000)
        record("real_estate_registry", "real_estate", members[1], 60_000_000)
    return Household(label=label, expect=expect, members=members, partner_records=records,
                     town_code=TOWNS[i % len(TOWNS)])


def make_emergency(seed: int) -> Household:
    """A household hit by a fire: emergency temporary assistance, paid first, verified after."""
    rng = random.Random(seed)
    # Persons numbered past any make_households call of up to 10,000 households.
    person = _person(rng, (rng.randrange(365), rng.randrange(999)), 10_000 + rng.randrange(
        50_000), 0, "applicant", 46, [("wage", 60_000)])
    return Household(label="emergency: house fire", expect="approved", members=[person],
                     programme="temporary",
                     extra={"temporary": {"kind": "emergency", "requested_amount_fen": 200_000,
                                          "cause": "fire"}})
