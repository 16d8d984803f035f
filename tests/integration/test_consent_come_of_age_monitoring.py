"""A child who has come of age during a running benefit, without their own signature (授权核对,
issue 26): partner data about them is still checked, because the household's authorisation
covers the checks of the assistance period; their own consent is asked for at the next periodic
review, which withholds its check until it is recorded (docs/ARCHITECTURE.md, "A case without a
consent"). On real SQLite and PostgreSQL, through verification's own handlers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.events import catalogue as ev
from tests.integration.test_consent_withheld_verification import (
    CASE,
    accesses,
    published,
    said,
    unsigned_son,
)
from tests.integration.test_consent_withheld_verification import engine as engine
from tests.integration.test_verification_reassessment import SON, approved, handle, publish, ref
from tests.integration.test_verification_reassessment import review as periodic_review


def test_partner_data_on_a_running_benefit_is_checked_for_a_child_come_of_age_unsigned(engine):
    # 17 on the application day, more than a year ago: no signature asked then; 18 by now.
    handle(engine, unsigned_son(age=17, submitted_at=datetime.now(UTC) - timedelta(days=400)))
    handle(engine, approved(CASE))  # a running benefit: its household is watched
    assert said(engine) == [("reported", "application")]

    # A department publishes the son's new wage: the running benefit is reported on again.
    publish(engine, "hr_social_security", ("w-son", "wage", SON, 20_000))
    assert said(engine) == [("reported", "application"), ("reported", "partner_data")]
    latest = [e for e in published(engine) if isinstance(e, ev.VerificationReported)][-1]
    assert {m.person_ref: m.verified_monthly_fen for m in latest.members}[ref(SON)] == 20_000
    assert accesses(engine) == ["application", "partner_data"]

    # The periodic review is where his own consent is collected: it waits for it.
    handle(engine, periodic_review(CASE))
    assert said(engine)[-1] == ("withheld", "periodic_review")
    assert accesses(engine) == ["application", "partner_data"]
