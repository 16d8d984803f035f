"""Verification decides by what the bureau publishes (issue 22 §2: every service that reads
policy takes it without a restart), on real SQLite and PostgreSQL: a ``PolicyPublished`` of one of
its figures is kept and read at the next use — by this instance and by any other on the same
database — while approval's figures are passed over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from deploy.households import resident_id
from services.verification.adapters.tables import policy_figures
from services.verification.bootstrap import packaged_monitoring
from services.verification.domain.monitoring import freshness_days
from shared.clock import today
from shared.events.catalogue import POLICY_KEY, PolicyPublished
from shared.policy_book import PolicyBook
from tests.integration.test_monitoring import (
    MOTHER,
    RECENT,
    STRANGER,
    TOWN,
    apply,
    leads,
    publish,
    ref,
)
from tests.integration.test_monitoring import service as service
from tests.integration.test_monitoring import tokens as tokens
from tests.integration.test_partner_publications import rec

REGION = TOWN[:6]
OTHER_STRANGER = resident_id("330282", today().replace(year=1961), 5)


def published(sequence: int, name: str, value: int, region: str = REGION,
              days_from_today: int = 0) -> PolicyPublished:
    return PolicyPublished(
        case_id=POLICY_KEY, proposal_id=f"proposal-{sequence}", sequence=sequence, name=name,
        region_code=region, effective_from=today() + timedelta(days=days_from_today),
        value=value, replaces_value=None, proposed_by="policy_officer:p-001",
        approved_by="policy_officer:p-002", policy_version="v", published_at=datetime.now(UTC))


def test_a_published_discovery_threshold_raises_leads_at_once(service, tokens):
    bill = rec("m-1", "large_medical_bill", STRANGER, 500_000, as_of=RECENT, town_code=TOWN)
    publish(service, "medical_insurance", bill)
    assert leads(service, tokens.reviewer(TOWN)) == []  # ¥5,000: under the packaged ¥20,000
    service.handle(published(1, "discovery.medical_bill_fen", 300_000))
    # The next file, with the same bill and another stranger's smaller one: both are judged by
    # the threshold now in force (¥3,000), with no restart.
    publish(service, "medical_insurance", bill,
            rec("m-2", "large_medical_bill", OTHER_STRANGER, 400_000, as_of=RECENT,
                town_code=TOWN))
    found = {lead["person_ref"]: lead for lead in leads(service, tokens.reviewer(TOWN))}
    assert set(found) == {ref(service, STRANGER), ref(service, OTHER_STRANGER)}
    assert "¥5,000.00" in found[ref(service, STRANGER)]["reason"]
    # Another instance on the same database reads the same figure without a restart.
    other = PolicyBook(packaged_monitoring(), policy_figures, service.engine)
    assert other.current().figure("discovery.medical_bill_fen", REGION, today()).value == 300_000


def test_a_published_freshness_window_marks_old_figures_stale_from_its_day(service):
    apply(service)
    publish(service, "hr_social_security", rec("w-1", "wage", MOTHER, 45_000,
                                                as_of=(today() - timedelta(days=30)).isoformat()))
    [first] = [r for r in service.reports() if r.occasion == "partner_data"]
    assert [s.stale for s in first.sources if s.department == "hr_social_security"] == [False]
    # Tomorrow's window is not today's: a figure takes effect on its own day.
    service.handle(published(1, "freshness.hr_social_security_days", 7, days_from_today=1))
    service.handle(published(2, "freshness.hr_social_security_days", 7))
    publish(service, "hr_social_security", rec("w-1", "wage", MOTHER, 46_000,
                                                as_of=(today() - timedelta(days=30)).isoformat()))
    latest = service.reports()[-1]
    assert latest.occasion == "partner_data" and latest.report_id != first.report_id
    assert [s.stale for s in latest.sources if s.department == "hr_social_security"] == [True]
    table = service.app.state.monitoring.current()
    assert freshness_days(table, REGION, today())["hr_social_security"] == 7
    assert freshness_days(table, "370202", today())["hr_social_security"] == 92  # not reached


def test_approval_figures_pass_over_and_a_publication_is_kept_once(service):
    service.handle(published(1, "dibao.monthly_standard_fen", 110_500))
    service.handle(published(2, "monitoring.income_loss_tier", 3))
    service.handle(published(2, "monitoring.income_loss_tier", 3))  # delivered again
    with service.engine.connect() as conn:
        rows = conn.execute(select(policy_figures.c.sequence, policy_figures.c.name)).all()
        assert conn.execute(select(func.count()).select_from(policy_figures)).scalar() == 1
    assert [tuple(r) for r in rows] == [(2, "monitoring.income_loss_tier")]
    table = service.app.state.monitoring.current()
    assert table.figure("monitoring.income_loss_tier", REGION, today()).value == 3
    assert table.figure("dibao.monthly_standard_fen", REGION, today()) is None
