"""Verification's part of a household it may not check for want of a member's consent (授权核对,
issue 26), on real SQLite and PostgreSQL: instead of failing (the event went to the dead-letter
topic, and the case waited at approval for a report that never came) it publishes
``VerificationWithheld`` — the reason's code, the occasion, who must sign — and looks at no
partner data; the consent the town records (``ConsentRecorded``) has the check run again. At a
periodic review a child who may have come of age since the application must sign first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.verification.adapters.tables import bus, household_members, partner_data_access
from shared import clock
from shared.events import catalogue as ev
from shared.events.envelope import from_record
from tests.conftest import migrated_engine
from tests.integration.test_verification_reassessment import (
    MOTHER,
    SON,
    application,
    approved,
    handle,
    publish,
    ref,
    review,
)

CASE = "330282-20261122-00000000c0a5"
TODAY = clock.today()  # China time, as the services decide days


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "verification") as engine:
        yield engine


def unsigned_son(*, age: int = 25, submitted_at: datetime | None = None
                 ) -> ev.ApplicationSubmitted:
    """Mother (signed) and son (not signed), applying on ``submitted_at``."""
    app = application(CASE, wage=30_000)
    son = app.members[1].model_copy(update={"age_years": age, "consent_signed": False})
    return app.model_copy(update={"members": [app.members[0], son],
                                  "submitted_at": submitted_at or datetime.now(UTC)})


def consent(occasion: str) -> ev.ConsentRecorded:
    return ev.ConsentRecorded(case_id=CASE, occasion=occasion,  # type: ignore[arg-type]
                              member_refs=[ref(SON)], signed_on=TODAY,
                              recorded_by_role="window_clerk", recorded_at=datetime.now(UTC))


def published(engine) -> list[ev.Event]:
    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox).where(bus.outbox.c.key == CASE.encode())
                            .order_by(bus.outbox.c.id)).mappings().all()
    return [from_record(bytes(r["value"]), [(str(k), str(v).encode())
                                              for k, v in json.loads(r["headers"])]).data
            for r in rows]


def said(engine) -> list[tuple[str, str]]:
    """What verification said of the case, in order: (withheld | reported, occasion)."""
    return [("withheld" if isinstance(e, ev.VerificationWithheld) else "reported", e.occasion)
            for e in published(engine)
            if isinstance(e, ev.VerificationWithheld | ev.VerificationReported)]


def accesses(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(partner_data_access.c.purpose).where(
            partner_data_access.c.case_id == CASE).order_by(partner_data_access.c.access_id))
            .scalars())


def test_an_application_without_an_adults_consent_is_withheld_until_it_is_recorded(engine):
    handle(engine, unsigned_son())
    [withheld] = [e for e in published(engine) if isinstance(e, ev.VerificationWithheld)]
    assert (withheld.reason, withheld.occasion, withheld.member_refs) == (
        "consent_missing", "application", [ref(SON)])
    assert said(engine) == [("withheld", "application")]
    assert accesses(engine) == []  # no partner data was looked at
    # The same application sent again, and new partner data about the son: still nothing.
    handle(engine, unsigned_son())
    publish(engine, "hr_social_security", ("w-s", "wage", SON, 20_000))
    assert said(engine) == [("withheld", "application")] and accesses(engine) == []

    handle(engine, consent("application"))
    assert said(engine) == [("withheld", "application"), ("reported", "application")]
    [report] = [e for e in published(engine) if isinstance(e, ev.VerificationReported)]
    assert {m.person_ref: m.verified_monthly_fen for m in report.members}[ref(SON)] == 20_000
    assert accesses(engine) == ["application"]
    with engine.connect() as conn:
        assert dict(conn.execute(select(household_members.c.person_ref,
                                        household_members.c.consent_signed)
                                 .where(household_members.c.case_id == CASE)).all()) == {
            ref(MOTHER): True, ref(SON): True}
    handle(engine, consent("application"))  # recorded twice: reported once
    assert said(engine) == [("withheld", "application"), ("reported", "application")]


def test_at_a_review_a_child_come_of_age_since_the_application_must_sign_first(engine):
    a_year_ago = datetime.now(UTC) - timedelta(days=400)
    handle(engine, unsigned_son(age=17, submitted_at=a_year_ago))  # a minor then: no consent
    handle(engine, approved(CASE))
    assert said(engine) == [("reported", "application")]
    handle(engine, review(CASE))
    [withheld] = [e for e in published(engine) if isinstance(e, ev.VerificationWithheld)]
    assert (withheld.occasion, withheld.member_refs) == ("periodic_review", [ref(SON)])
    assert accesses(engine) == ["application"]  # the review looked at nothing

    handle(engine, consent("periodic_review"))
    assert said(engine) == [("reported", "application"), ("withheld", "periodic_review"),
                            ("reported", "periodic_review")]
    assert accesses(engine) == ["application", "periodic_review"]


def test_a_child_who_cannot_have_come_of_age_needs_no_consent_at_the_review(engine):
    handle(engine, unsigned_son(age=10, submitted_at=datetime.now(UTC) - timedelta(days=400)))
    handle(engine, approved(CASE))
    handle(engine, review(CASE))
    assert said(engine) == [("reported", "application"), ("reported", "periodic_review")]
