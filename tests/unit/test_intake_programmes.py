"""What intake asks of each programme's application: the shape of every new field (schema) and
the rules that relate fields to the programme (domain), each failing with its own field path."""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from deploy.households import resident_id
from services.intake.domain.model import (
    Application,
    LegalSupporter,
    Member,
    TemporaryRequest,
    closed_statuses,
)
from services.intake.entrypoints.schemas import ApplicationIn
from shared.resident_id import parse_resident_id

TODAY = date(2026, 11, 22)


def member(relation: str = "applicant", born: date = date(1960, 1, 1), seq: int = 1,
           **facts: Any) -> Member:
    rid = parse_resident_id(resident_id("330282", born, seq), today=TODAY)
    consent = TODAY if born < date(2008, 1, 1) else None
    return Member(name="王某", resident_id=rid, relation=relation, consent_signed_on=consent,
                  **facts)


EMERGENCY = TemporaryRequest(kind="emergency", requested_amount_fen=300_000, cause="fire",
                             description="房屋失火")

# One valid application per programme; each rule below breaks one of them in one way.
VALID = {
    "dibao": Application("330282", "dibao", (member(), member("child", date(2015, 5, 5), 2)),
                         submitted_on=TODAY, referrals=("medical", "education")),
    "tekun": Application("330282", "tekun", (member(self_care="partial", able_to_work=False),),
                         submitted_on=TODAY, care_mode="centralised",
                         legal_supporters=(LegalSupporter("child", False),)),
    "marginal": Application("330282", "marginal", (member(),), submitted_on=TODAY),
    "temporary": Application("330282", "temporary", (member(),), submitted_on=TODAY,
                             temporary=EMERGENCY),
    # The disabled member need not be the applicant.
    "disability": Application("330282", "disability",
                              (member(), member("child", date(2012, 3, 3), 2,
                                                disability_grade=1)),
                              submitted_on=TODAY),
}


@pytest.mark.parametrize("programme", sorted(VALID))
def test_a_correct_application_of_each_programme_has_no_problems(programme):
    assert VALID[programme].problems() == []


RULES = [
    # (what, application, the path of the one problem, words of its reason)
    ("temporary assistance without its request",
     replace(VALID["temporary"], temporary=None), ("temporary",), "required"),
    ("a temporary request on another programme",
     replace(VALID["dibao"], temporary=EMERGENCY), ("temporary",), "only for"),
    ("extreme hardship for a household",
     replace(VALID["tekun"], members=(*VALID["tekun"].members, member("spouse", seq=3))),
     ("members",), "one person"),
    ("extreme hardship without the applicant's self-care",
     replace(VALID["tekun"], members=(member(able_to_work=False),)),
     ("members", 0, "self_care"), "required"),
    ("legal supporters outside extreme hardship",
     replace(VALID["dibao"], legal_supporters=(LegalSupporter("child", True),)),
     ("legal_supporters",), "only for"),
    ("a care mode outside extreme hardship",
     replace(VALID["marginal"], care_mode="home"), ("care_mode",), "only for"),
    ("disability subsidies with no disability grade",
     replace(VALID["disability"], members=(member(), member("child", date(2012, 3, 3), 2))),
     ("members",), "disability_grade"),
    ("a referral listed twice",
     replace(VALID["dibao"], referrals=("medical", "housing", "medical")),
     ("referrals", 2), "twice"),
]


@pytest.mark.parametrize(("application", "path", "words"),
                         [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_programme_rule_names_its_field(application, path, words):
    problems = application.problems()
    assert [p.path for p in problems] == [path]
    assert words in problems[0].reason


def test_every_broken_rule_is_named_at_once():
    application = replace(VALID["tekun"], temporary=EMERGENCY, referrals=("medical", "medical"),
                          members=(member(), member("spouse", seq=3)))
    assert {p.path for p in application.problems()} == {
        ("temporary",), ("members",), ("members", 0, "self_care"), ("referrals", 1)}


def test_one_off_assistance_closes_when_it_is_granted():
    assert set(closed_statuses("dibao")) == {"rejected", "terminated"}
    assert set(closed_statuses("temporary")) == {
        "rejected", "terminated", "approved", "payment_scheduled", "advance_paid"}
    assert "follow_up" not in closed_statuses("temporary")


# The request as the window sends it.
def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "region_code": "330282", "programme": "tekun",
        "members": [{"name": "王秀英", "resident_id": resident_id("330282", date(1950, 3, 15), 2),
                     "relation": "applicant", "consent_signed_on": "2026-11-20",
                     "disability_grade": 2, "able_to_work": False, "self_care": "none"}],
        "legal_supporters": [{"relation": "child", "able_to_support": False}],
        "care_mode": "home", "referrals": ["medical"]}
    return {**base, **changes}


def with_member(**fields: Any) -> dict[str, Any]:
    b = body()
    b["members"][0].update(fields)
    return b


def temporary(**fields: Any) -> dict[str, Any]:
    request = {"kind": "spending", "requested_amount_fen": 500_000, "cause": "illness",
               "rigid_medical_spending_fen": 8_000_000, "description": "住院治疗"}
    return body(programme="temporary", legal_supporters=[], care_mode=None,
                temporary={**request, **fields})


SHAPES = [
    ("disability grade out of range", with_member(disability_grade=5),
     ("members", 0, "disability_grade")),
    ("disability grade as text", with_member(disability_grade="2"),
     ("members", 0, "disability_grade")),
    ("able to work as text", with_member(able_to_work="yes"), ("members", 0, "able_to_work")),
    ("unknown self-care", with_member(self_care="some"), ("members", 0, "self_care")),
    ("supporter of unknown relation",
     body(legal_supporters=[{"relation": "friend", "able_to_support": True}]),
     ("legal_supporters", 0, "relation")),
    ("a supporter's name", body(legal_supporters=[
        {"relation": "child", "able_to_support": True, "name": "王五"}]),
     ("legal_supporters", 0, "name")),
    ("supporter without ability", body(legal_supporters=[{"relation": "child"}]),
     ("legal_supporters", 0, "able_to_support")),
    ("unknown care mode", body(care_mode="hospital"), ("care_mode",)),
    ("unknown programme", body(programme="orphans"), ("programme",)),
    ("unknown referral", body(referrals=["legal"]), ("referrals", 0)),
    ("nothing requested", temporary(requested_amount_fen=0),
     ("temporary", "requested_amount_fen")),
    ("an absurd request", temporary(requested_amount_fen=100_000_001),
     ("temporary", "requested_amount_fen")),
    ("a request in yuan with decimals", temporary(requested_amount_fen=12.5),
     ("temporary", "requested_amount_fen")),
    ("unknown kind", temporary(kind="urgent"), ("temporary", "kind")),
    ("unknown cause", temporary(cause="theft"), ("temporary", "cause")),
    ("negative spending", temporary(rigid_medical_spending_fen=-1),
     ("temporary", "rigid_medical_spending_fen")),
    ("a description too long", temporary(description="火" * 501),
     ("temporary", "description")),
    ("a field the request does not have", temporary(victim="王五"), ("temporary", "victim")),
]


@pytest.mark.parametrize(("raw", "loc"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_each_malformed_field_is_named(raw, loc):
    with pytest.raises(ValidationError) as caught:
        ApplicationIn.model_validate(raw)
    assert [tuple(e["loc"]) for e in caught.value.errors()] == [loc]


def test_one_answer_names_every_malformed_field():
    raw = temporary(requested_amount_fen=0, cause="theft")
    raw["members"][0]["self_care"] = "some"
    raw["referrals"] = ["legal"]
    with pytest.raises(ValidationError) as caught:
        ApplicationIn.model_validate(raw)
    assert {tuple(e["loc"]) for e in caught.value.errors()} == {
        ("members", 0, "self_care"), ("referrals", 0), ("temporary", "requested_amount_fen"),
        ("temporary", "cause")}


def test_the_request_becomes_the_application():
    application = ApplicationIn.model_validate(temporary(description="  ")).to_domain()
    assert application.temporary == TemporaryRequest("spending", 500_000, "illness", 8_000_000,
                                                     description=None)  # blank is no description
    applicant = application.members[0]
    assert (applicant.disability_grade, applicant.able_to_work, applicant.self_care) == \
        (2, False, "none")
    assert application.referrals == ("medical",)
    tekun = ApplicationIn.model_validate(body()).to_domain()
    assert tekun.legal_supporters == (LegalSupporter("child", False),)
    assert tekun.care_mode == "home"
    assert tekun.problems() == []


def test_an_idempotency_key_from_before_the_new_fields_still_matches():
    old_shape = {"region_code": "330282", "programme": "dibao", "members": [
        {"name": "王秀英", "resident_id": resident_id("330282", date(1950, 3, 15), 2),
         "relation": "applicant", "consent_signed_on": "2026-11-20", "declared_incomes": []}]}
    assert ApplicationIn.model_validate(old_shape).fingerprint() == old_shape
    assert "referrals" in ApplicationIn.model_validate(body()).fingerprint()
