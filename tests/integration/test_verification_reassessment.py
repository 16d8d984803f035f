"""Verification reports on a case again: at periodic reviews, and when partners publish new data
about an active recipient's household — on real SQLite and PostgreSQL."""

import threading
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from fastapi import HTTPException
from sqlalchemy import select

from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.adapters.tables import bus, declared_incomes, household_members
from services.verification.bootstrap import packaged_monitoring
from services.verification.entrypoints.http import get_report
from services.verification.service_layer import handlers, partner_data
from services.verification.service_layer.handlers import handlers as build_handlers
from services.verification.service_layer.partner_data import IncomingRecord
from shared.auth.principals import Principal, Role
from shared.events.base import Event
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    BenefitChanged,
    CaseStageChanged,
    DeclaredIncome,
    MemberFacts,
    ReassessmentRequested,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

KEY = b"test-key"
HANDLERS = build_handlers(packaged_monitoring())
CASE = "330282-20261122-000000000001"
OTHER_CASE = "330282-20261122-000000000002"
# Resident ID numbers as partners send them; verification must only ever keep their pseudonyms.
MOTHER, SON, NEIGHBOUR = "330282197003030024", "330282200105050013", "330282196001010011"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "verification") as engine:
        yield engine


def ref(resident_id: str) -> str:
    return person_ref(KEY, resident_id)


def application(case_id: str = CASE, members: tuple[str, ...] = (MOTHER, SON),
                **declared: int) -> ApplicationSubmitted:
    """A household; the first member is the applicant and declares ``declared`` (kind → fen)."""
    return ApplicationSubmitted(
        case_id=case_id, region_code="330282", programme="dibao", submitted_at=NOW,
        members=[MemberFacts(person_ref=ref(rid), relation="applicant" if i == 0 else "child",
                             age_years=56 if i == 0 else 25, consent_signed=True,
                             declared_incomes=[DeclaredIncome(kind=k, monthly_amount_fen=v)
                                               for k, v in declared.items()] if i == 0 else [])
                 for i, rid in enumerate(members)])


def approved(case_id: str = CASE) -> ApplicationDecided:
    return ApplicationDecided(
        case_id=case_id, decision_id=f"d-{case_id}", outcome="approved", programme="dibao",
        region_code="330282", beneficiary_ref=ref(MOTHER), household_size=2,
        monthly_amount_fen=81_000, start_month="2026-12", policy_version="v", reasons=[],
        decided_at=NOW)


def terminated(case_id: str = CASE) -> BenefitChanged:
    return BenefitChanged(case_id=case_id, change="terminated", programme="dibao",
                          beneficiary_ref=ref(MOTHER), effective_month="2027-03",
                          monthly_amount_fen=0, reason="income above the standard",
                          changed_at=NOW)


def review(case_id: str = CASE) -> ReassessmentRequested:
    return ReassessmentRequested(case_id=case_id, occasion="periodic_review", requested_at=NOW)


def handle(engine, event: Event, uow: UnitOfWork | None = None) -> None:
    """What the consumer does with one event: its handler, if it has one, then commit."""
    with uow or UnitOfWork(engine, bus, "/test") as work:
        handler = HANDLERS.get(type(event))
        if handler is not None:
            handler(event, Envelope(data=event, source="/test"), work)  # type: ignore[arg-type]
        work.commit()


def publish(engine, department: str, *records: tuple[str, str, str, int],
            uow: UnitOfWork | None = None) -> None:
    """Records as (record_id, kind, resident_id, amount_fen)."""
    with uow or UnitOfWork(engine, bus, "/test") as work:
        partner_data.publish_records(
            department, [IncomingRecord(record_id=rid, kind=kind, resident_id=resident,
                                        amount_fen=fen, as_of=date(2026, 11, 30))
                         for rid, kind, resident, fen in records], work, pseudonym_key=KEY,
            monitoring=packaged_monitoring())


def reported(engine, case_id: str = CASE) -> list[VerificationReported]:
    """The reports published on a case, in the order they were written to the outbox."""
    with engine.connect() as conn:
        values = conn.execute(select(bus.outbox.c.value).where(bus.outbox.c.key == case_id.encode())
                              .order_by(bus.outbox.c.id)).scalars().all()
    return [VerificationReported.model_validate_json(v) for v in values]


def kept(engine, case_id: str = CASE) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        return [(r.seq, r.occasion, r.report_id)
                for r in ReportRepository(conn).of_case(case_id)]


def test_an_application_is_reported_once_even_when_sent_again(engine):
    event = application(wage=30_000)
    handle(engine, event)
    handle(engine, event)  # a new envelope: a new event id, as when intake re-sends it
    assert [r.occasion for r in reported(engine)] == ["application"]
    assert [(seq, occasion) for seq, occasion, _ in kept(engine)] == [(1, "application")]


def test_the_household_is_kept_under_pseudonyms_with_its_declared_incomes(engine):
    handle(engine, application(wage=30_000, business=20_000, pension=5_000))
    with engine.connect() as conn:
        members = [tuple(r) for r in conn.execute(
            select(household_members.c.person_ref, household_members.c.age_years,
                   household_members.c.consent_signed).order_by(household_members.c.position))]
        incomes = {tuple(r) for r in conn.execute(
            select(declared_incomes.c.person_ref, declared_incomes.c.kind,
                   declared_incomes.c.monthly_amount_fen))}
    assert members == [(ref(MOTHER), 56, True), (ref(SON), 25, True)]
    assert incomes == {(ref(MOTHER), "wage", 30_000), (ref(MOTHER), "business", 20_000),
                       (ref(MOTHER), "pension", 5_000)}


def test_a_periodic_review_makes_a_new_report_from_current_partner_records(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    publish(engine, "hr_social_security", ("w-1", "wage", SON, 30_000))  # after the application
    handle(engine, review())
    first, second = reported(engine)[0], reported(engine)[-1]
    assert (first.occasion, second.occasion) == ("application", "periodic_review")
    assert second.report_id not in {r.report_id for r in reported(engine)[:-1]}
    assert second.household_monthly_income_fen == 60_000
    assert [seq for seq, _, _ in kept(engine)] == list(range(1, len(reported(engine)) + 1))

    reviewer = Principal("t-017", Role.TOWN_REVIEWER, "330282", NOW)  # the district's own
    runtime = SimpleNamespace(engine=engine, uow=lambda: UnitOfWork(engine, bus, "/test"))
    body = get_report(CASE, runtime, None, reviewer)  # type: ignore[arg-type]
    stranger = Principal("t-900", Role.TOWN_REVIEWER, "370202", NOW)
    with pytest.raises(HTTPException) as refused:
        get_report(CASE, runtime, None, stranger)  # type: ignore[arg-type]
    assert refused.value.status_code == 403
    assert body["report_id"] == second.report_id and body["occasion"] == "periodic_review"
    earlier = body["earlier_reports"]
    assert [e["report_id"] for e in earlier] == [r.report_id for r in reported(engine)[:-1]]
    assert earlier[0]["occasion"] == "application"


def test_a_review_always_reports_even_when_nothing_changed(engine):
    handle(engine, application(wage=30_000))
    handle(engine, review())
    handle(engine, review())
    assert [r.occasion for r in reported(engine)] == [
        "application", "periodic_review", "periodic_review"]


def test_a_review_of_a_case_without_a_kept_household_fails_loudly(engine):
    with pytest.raises(handlers.UnknownCase):
        handle(engine, review("330282-20261122-00000000dead"))


def test_partner_data_about_a_recipient_reports_once_per_case_and_publication(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    publish(engine, "hr_social_security",
            ("w-m", "wage", MOTHER, 45_000), ("w-s", "wage", SON, 20_000),
            ("p-s", "pension", SON, 1_000))
    reports = reported(engine)
    assert [r.occasion for r in reports] == ["application", "partner_data"]
    incomes = {m.person_ref: (m.counted_monthly_fen, m.employment_monthly_fen)
               for m in reports[-1].members}
    assert incomes == {ref(MOTHER): (45_000, 45_000), ref(SON): (21_000, 20_000)}
    assert kept(engine)[-1][:2] == (2, "partner_data")


def test_the_same_records_published_again_report_nothing_new(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    records = (("w-m", "wage", MOTHER, 45_000), ("d-s", "deposit", SON, 0))
    publish(engine, "hr_social_security", records[0])
    publish(engine, "hr_social_security", records[0])
    publish(engine, "bank", records[1])  # a new source, but no figure changes
    assert [r.occasion for r in reported(engine)] == ["application", "partner_data"]
    publish(engine, "bank", ("d-s", "deposit", SON, 700_000))  # the balance changed
    assert [r.occasion for r in reported(engine)] == ["application", "partner_data",
                                                       "partner_data"]
    assert reported(engine)[-1].assets.deposits_fen == 700_000


def test_a_monthly_file_that_only_moves_the_dates_reassesses_nobody(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000))
    assert len(reported(engine)) == 2
    with UnitOfWork(engine, bus, "/test") as work:  # next month: same wage, a new date
        partner_data.publish_records("hr_social_security", [IncomingRecord(
            record_id="w-m", kind="wage", resident_id=MOTHER, amount_fen=45_000,
            as_of=date(2026, 12, 31))], work, pseudonym_key=KEY,
            monitoring=packaged_monitoring())
    assert len(reported(engine)) == 2
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 46_000))
    assert len(reported(engine)) == 3


def test_partner_data_reports_again_on_an_open_case_and_not_on_a_rejected_one(engine):
    handle(engine, application(wage=30_000))  # applied, not (yet) decided: its review goes on
    handle(engine, application(OTHER_CASE, (NEIGHBOUR,)))
    handle(engine, approved(OTHER_CASE).model_copy(update={"outcome": "rejected"}))
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000),
            ("w-n", "wage", NEIGHBOUR, 45_000))
    assert [r.occasion for r in reported(engine)] == ["application", "partner_data"]
    assert reported(engine)[-1].members[0].verified_monthly_fen == 45_000
    assert [r.occasion for r in reported(engine, OTHER_CASE)] == ["application"]
    # An undecidable case is still open: a person acts on its latest report.
    handle(engine, approved().model_copy(update={"outcome": "undecidable"}))
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 46_000))
    assert [r.occasion for r in reported(engine)] == ["application", "partner_data",
                                                       "partner_data"]


def test_a_one_off_grant_makes_no_recipient(engine):
    # (Its household is watched for early warnings a while: tests/integration/test_monitoring.py)
    handle(engine, application(wage=30_000).model_copy(update={"programme": "temporary"}))
    handle(engine, approved().model_copy(update={"programme": "temporary"}))
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000))
    assert [r.occasion for r in reported(engine)] == ["application"]


def test_a_terminated_recipient_is_no_longer_watched(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    handle(engine, terminated())
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000))
    assert [r.occasion for r in reported(engine)] == ["application"]


def test_one_publication_reports_on_every_recipient_case_it_touches(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    handle(engine, application(OTHER_CASE, (NEIGHBOUR,)))
    handle(engine, approved(OTHER_CASE))
    publish(engine, "public_security", ("v-m", "vehicle", MOTHER, 3_000_000),
            ("v-s", "vehicle", SON, 2_000_000), ("v-n", "vehicle", NEIGHBOUR, 1_000_000))
    assert [r.assets.vehicle_count for r in reported(engine)] == [0, 2]
    assert [r.assets.vehicle_count for r in reported(engine, OTHER_CASE)] == [0, 1]


def test_other_decision_events_are_ignored(engine):
    handle(engine, application(wage=30_000))
    handle(engine, approved().model_copy(update={"outcome": "rejected"}))
    # A stage change is no decision: it neither makes a recipient nor reopens the case.
    handle(engine, CaseStageChanged(case_id=CASE, sequence=9, from_stage="rejected",
                                    to_stage="approved", action="approve", actor="system",
                                    changed_at=NOW))
    publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000))
    assert [r.occasion for r in reported(engine)] == ["application"]


class HeldCommit(UnitOfWork):
    """A unit of work that waits, before committing, until the test lets it go."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.ready, self.go = threading.Event(), threading.Event()

    def commit(self) -> None:
        self.ready.set()
        assert self.go.wait(30)
        super().commit()


def test_two_departments_publishing_at_once_report_in_turn(engine):
    """The second publication waits for the first and builds on it: no report numbered twice,
    and the last one shows both departments' data."""
    handle(engine, application(wage=30_000))
    handle(engine, approved())
    held = HeldCommit(engine, bus, "/test")
    first = threading.Thread(target=publish, args=(engine, "bank", ("d-m", "deposit", MOTHER,
                                                                    500_000)), kwargs={"uow": held})
    errors: list[BaseException] = []

    def second_publication() -> None:
        try:
            publish(engine, "hr_social_security", ("w-m", "wage", MOTHER, 45_000))
        except BaseException as exc:  # the test thread reports it
            errors.append(exc)

    second = threading.Thread(target=second_publication)
    first.start()
    assert held.ready.wait(30)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the first publication's case lock
    held.go.set()
    first.join(30)
    second.join(30)
    assert not errors
    assert [seq for seq, _, _ in kept(engine)] == [1, 2, 3]
    last = reported(engine)[-1]
    assert last.assets.deposits_fen == 500_000
    assert last.members[0].counted_monthly_fen == 45_000
