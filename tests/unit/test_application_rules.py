from datetime import date

from deploy.households import resident_id
from services.intake.domain.model import Application, CaseStatus, DeclaredIncome, Member
from shared.resident_id import parse_resident_id

TODAY = date(2026, 11, 22)


def member(relation: str, born: date, seq: int, consent: date | None = TODAY) -> Member:
    rid = parse_resident_id(resident_id("330282", born, seq), today=TODAY)
    return Member(name="王某", resident_id=rid, relation=relation,
                  declared_incomes=(DeclaredIncome("wage", 50_000),), consent_signed_on=consent)


def test_a_correct_household_has_no_problems():
    app = Application("330282", "dibao", (
        member("applicant", date(1980, 1, 1), 1),
        member("child", date(2015, 5, 5), 2, consent=None),  # minors do not sign
    ), submitted_on=TODAY)
    assert app.problems() == []
    assert app.applicant.declared_monthly_fen == 50_000


def test_every_problem_is_named_with_its_field():
    app = Application("330200", "dibao", (
        member("spouse", date(1980, 1, 1), 1, consent=None),
        member("spouse", date(1981, 1, 1), 1),
        member("child", date(1970, 1, 1), 3, consent=date(2027, 1, 1)),
    ), submitted_on=TODAY)
    paths = {p.path: p.reason for p in app.problems()}
    assert "district or county" in paths[("region_code",)]
    assert "exactly one member" in paths[("members",)]
    assert "consent" in paths[("members", 0, "consent_signed_on")]
    assert "after the application date" in paths[("members", 2, "consent_signed_on")]


def test_duplicate_members_are_refused():
    app = Application("330282", "dibao", (member("applicant", date(1980, 1, 1), 1),
                                          member("spouse", date(1980, 1, 1), 1)),
                      submitted_on=TODAY)
    assert [p.path for p in app.problems()] == [("members", 1, "resident_id")]


def test_the_latest_stage_change_wins_whatever_order_they_arrive_in():
    third = CaseStatus().after_stage_change(3, "under_notice")
    assert third == CaseStatus("under_notice", 3)
    assert third.after_stage_change(2, "awaiting_review") == third  # older
    assert third.after_stage_change(3, "returned") == third  # a repeat
    assert third.after_stage_change(4, "approved") == CaseStatus("approved", 4)


def test_verified_only_fills_the_time_before_the_first_stage_change():
    assert CaseStatus().after_verification() == CaseStatus("verified", 0)
    staged = CaseStatus("awaiting_review", 1)
    assert staged.after_verification() == staged
    assert CaseStatus("approved", 0).after_verification() == CaseStatus("approved", 0)


def test_payment_scheduled_only_follows_an_approval_or_an_advance():
    assert CaseStatus("approved", 5).after_payment_scheduled() == \
        CaseStatus("payment_scheduled", 5)
    assert CaseStatus("advance_paid", 2).after_payment_scheduled() == \
        CaseStatus("payment_scheduled", 2)
    for status in ("submitted", "verified", "awaiting_approval", "exiting", "payment_scheduled"):
        assert CaseStatus(status, 3).after_payment_scheduled() == CaseStatus(status, 3)
    # A stage change after the payment (a suspension) still takes over.
    paid = CaseStatus("approved", 5).after_payment_scheduled()
    assert paid.after_stage_change(6, "suspended") == CaseStatus("suspended", 6)


def test_members_of_another_open_case_are_named():
    app = Application("330282", "dibao", (member("applicant", date(1980, 1, 1), 1),
                                          member("spouse", date(1981, 1, 1), 3)),
                      submitted_on=TODAY)
    problems = app.already_in_open_cases(["p-a", "p-b"], {"p-b": "330282-20261101-aa"})
    assert [(p.path, p.reason) for p in problems] == [
        (("members", 1, "resident_id"), "already has an open case for dibao: "
                                        "330282-20261101-aa")]
    # A case the caller may not see is not named.
    hidden = app.already_in_open_cases(["p-a", "p-b"], {"p-a": None})
    assert [(p.path, p.reason) for p in hidden] == [
        (("members", 0, "resident_id"), "already has an open case for dibao")]


def test_sample_households_are_distinct_persons_within_and_across_seeds():
    from deploy.households import make_households

    def ids(households):
        return [m["resident_id"] for h in households for m in h.members]

    many = ids(make_households(3000, seed=7))
    assert len(many) == len(set(many))
    assert not set(ids(make_households(20, seed=1))) & set(ids(make_households(20, seed=2)))
