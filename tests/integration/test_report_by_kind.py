"""The report as approval receives it, from records stored on real SQLite and PostgreSQL:
income counted kind by kind, the disabled persons' federation's grade on record, and every other
kind a partner publishes, each changing the report and approval's assessment (issue 22)."""

from __future__ import annotations

from datetime import date

import pytest

from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import from_application, with_report
from services.approval.domain.policy import load_policy
from services.approval.domain.trace import Check
from services.verification.adapters.tables import bus
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer import partner_data
from services.verification.service_layer.partner_data import IncomingRecord
from shared.events.catalogue import VerificationReported
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_verification_reassessment import (
    MOTHER,
    SON,
    application,
    handle,
    ref,
    reported,
)


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "verification") as engine:
        yield engine


def publish(engine, department: str, kind: str, resident_id: str, *, fen: int = 0,
            grade: int | None = None, town: str | None = None) -> None:
    with UnitOfWork(engine, bus, "/test") as work:
        partner_data.publish_records(
            department, [IncomingRecord(record_id=f"{kind}-{resident_id}", kind=kind,
                                        resident_id=resident_id, amount_fen=fen,
                                        as_of=date(2026, 11, 30), grade=grade, town_code=town)],
            work, pseudonym_key=b"test-key", monitoring=packaged_monitoring())


def test_a_declared_wage_does_not_hide_a_recorded_pension(engine):
    publish(engine, "hr_social_security", "pension", MOTHER, fen=60_000)
    handle(engine, application(wage=100_000))
    mother = next(m for m in reported(engine)[-1].members if m.person_ref == ref(MOTHER))
    assert mother.counted_monthly_fen == 160_000
    assert mother.employment_monthly_fen == 100_000
    assert [(k.kind, k.declared_fen, k.recorded_fen, k.counted_fen, k.sources)
            for k in mother.by_kind] == [
        ("pension", 0, 60_000, 60_000, ["hr_social_security:pension"]),
        ("wage", 100_000, 0, 100_000, ["declared"])]


def test_the_grade_on_record_reaches_the_report(engine):
    publish(engine, "disabled_persons_federation", "disability_grade", SON, grade=1)
    handle(engine, application(wage=30_000))
    grades = {m.person_ref: m.disability_grade for m in reported(engine)[-1].members}
    assert grades == {ref(MOTHER): None, ref(SON): 1}


# -- every other kind (issue 22: "the other kinds … stored for the report's flags still to come") --

POLICY = load_policy(DEFAULT_POLICY)
ON = date(2026, 12, 1)
STANDARD = 100_500  # Cixi's Dibao standard
LIMIT = STANDARD * 2 * 24  # two members' deposit limit
# The household of test_verification_reassessment: the mother (applicant) declares a wage of
# 300 yuan, her son of 25 nothing. 2 × 1,005 − (300 − 200 deducted) = 1,910 yuan.
BEFORE = 2 * STANDARD - 10_000


def assessed(report: VerificationReported) -> Assessment:
    """Approval's assessment of the report, as its handler makes it (``with_report``)."""
    return assess(with_report(from_application(application(wage=30_000)), report), POLICY, ON)


def rule(a: Assessment, name: str) -> Check | None:
    return next((c for c in a.checks if c.rule == name), None)


def business(report: VerificationReported, a: Assessment) -> None:
    mother = next(m for m in report.members if m.person_ref == ref(MOTHER))
    assert [(k.kind, k.recorded_fen, k.counted_fen, k.sources) for k in mother.by_kind] == [
        ("business", 80_000, 80_000, ["market_regulation:business"]),
        ("wage", 0, 30_000, ["declared"])]
    assert mother.employment_monthly_fen == 110_000
    assert ("business_registered", ref(MOTHER)) in {(f.kind, f.person_ref) for f in report.flags}
    assert a.eligible and a.benefits[0].monthly_amount_fen == BEFORE - 80_000


def wealth(report: VerificationReported, a: Assessment) -> None:
    assert report.assets.wealth_products_fen == LIMIT + 1
    check = rule(a, "deposits")
    assert a.eligible is False and check is not None and not check.passed
    assert "bank:wealth_product" in check.detail


def insurance(report: VerificationReported, a: Assessment) -> None:
    assert report.assets.insurance_value_fen == LIMIT
    check = rule(a, "deposits")
    assert a.eligible is True and check is not None and check.passed  # at the limit: passes
    assert check.inputs["insurance_value_fen"] == str(LIMIT)


def provident(report: VerificationReported, a: Assessment) -> None:
    assert report.assets.provident_fund_fen == 10 * LIMIT
    assert ("provident_fund", ref(SON)) in {(f.kind, f.person_ref) for f in report.flags}
    check = rule(a, "provident_fund")
    assert a.eligible is True and check is not None and check.inputs["counted"] == "False"


def taxable(report: VerificationReported, a: Assessment) -> None:
    mother = next(m for m in report.members if m.person_ref == ref(MOTHER))
    assert (mother.taxable_income_fen, mother.counted_monthly_fen) == (200_000, 30_000)
    check = rule(a, "taxable_income_above_counted")
    assert check is not None and check.inputs["taxable_income_fen"] == "200000"
    assert check.inputs["counted_income_fen"] == "30000"
    assert a.benefits[0].monthly_amount_fen == BEFORE  # flagged, never counted


def registration(report: VerificationReported, a: Assessment) -> None:
    mother = next(m for m in report.members if m.person_ref == ref(MOTHER))
    assert mother.registered_elsewhere is True
    assert ("registered_elsewhere", ref(MOTHER)) in {(f.kind, f.person_ref)
                                                     for f in report.flags}
    assert rule(a, "household_registration") is not None
    assert a.eligible is True and a.benefits[0].monthly_amount_fen == BEFORE


def prison(report: VerificationReported, a: Assessment) -> None:
    son = next(m for m in report.members if m.person_ref == ref(SON))
    assert son.imprisoned_since == date(2026, 11, 30)
    check = rule(a, "household_members")
    assert check is not None and check.inputs["counted_size"] == "1"
    assert a.eligible and a.benefits[0].monthly_amount_fen == STANDARD - 10_000  # 1 member


@pytest.mark.parametrize(("department", "kind", "resident", "fen", "town", "effect"), [
    ("market_regulation", "business", MOTHER, 80_000, None, business),
    ("bank", "wealth_product", SON, LIMIT + 1, None, wealth),
    ("bank", "insurance_policy", SON, LIMIT, None, insurance),
    ("housing_provident_fund", "provident_fund", SON, 10 * LIMIT, None, provident),
    ("tax", "taxable_income", MOTHER, 200_000, None, taxable),
    ("public_security", "household_registration", MOTHER, 0, "370202001", registration),
    ("court", "imprisonment", SON, 0, None, prison),
], ids=["business", "wealth_product", "insurance_policy", "provident_fund", "taxable_income",
        "household_registration", "imprisonment"])
def test_each_kind_published_changes_the_report_and_the_assessment(
        engine, department, kind, resident, fen, town, effect):
    handle(engine, application(wage=30_000))
    before = reported(engine)[-1]
    first = assessed(before)
    assert first.eligible and first.benefits[0].monthly_amount_fen == BEFORE
    publish(engine, department, kind, resident, fen=fen, town=town)
    reports = reported(engine)
    assert [r.occasion for r in reports] == ["application", "partner_data"]
    effect(reports[-1], assessed(reports[-1]))
    # The same record again changes nothing: no new report.
    publish(engine, department, kind, resident, fen=fen, town=town)
    assert len(reported(engine)) == 2


def test_a_registration_in_the_cases_own_region_is_no_flag(engine):
    handle(engine, application(wage=30_000))
    publish(engine, "public_security", "household_registration", MOTHER, town="330282101")
    latest = reported(engine)[-1]
    assert not any(m.registered_elsewhere for m in latest.members)
    assert not latest.flags
    assert rule(assessed(latest), "household_registration") is None
