"""The window's part of a case verification may not check for want of a member's consent
(授权核对, issue 26): the case page says why in the reader's language and names who must sign,
the town's home page lists the case in its queue, and the consent recorded on the page sends
the case back to verification, which checks the household again.

Intake, approval and the window are their real apps (tests/integration/test_case_page_actions.py's
``running``: own migrations, SQLite, served by uvicorn); verification is its real handlers on a
database its migrations made. Each service's outbox is handed to the handlers of the services
that read it, as their consumers would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from deploy.households import resident_id
from services.approval.adapters.tables import bus as approval_bus
from services.approval.domain.workflow import Actor
from services.approval.service_layer import commands
from services.intake.adapters.tables import bus as intake_bus
from services.intake.domain.model import Application, DeclaredIncome, Member
from services.intake.service_layer import commands as intake
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.adapters.tables import bus as verification_bus
from services.verification.adapters.tables import households
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer.handlers import handlers as verification_handlers
from shared import clock
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.resident_id import parse_resident_id
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_case_page_actions import (  # noqa: F401 (the fixture)
    Running,
    accept,
    items,
    running,
    section,
)
from tests.integration.test_window_policy import csrf

DISTRICT, TOWN = "330282", "330282001"
VERIFY = verification_handlers(packaged_monitoring())
TODAY = clock.today()  # China time, as the services decide days


@dataclass
class System:
    """The running apps, and verification by its handlers: every outbox relayed to its readers."""

    apps: Running
    verification: Engine

    def to_verification(self, envelope: Envelope) -> None:
        handler: Any = VERIFY.get(type(envelope.data))
        if handler is not None:
            with UnitOfWork(self.verification, verification_bus, "/onedoor/verification") as uow:
                handler(envelope.data, envelope, uow)
                uow.commit()

    def relay(self) -> None:
        for _ in range(5):  # until quiet: a report leads to an assessment, and so on
            moved = False
            for envelope in self.apps._outbox(self.apps.intake_db, intake_bus):
                self.to_verification(envelope)
                self.apps.to_approval(envelope)
                moved = True
            for envelope in self.apps._outbox(self.verification, verification_bus):
                self.apps.to_intake(envelope)
                self.apps.to_approval(envelope)
                moved = True
            for envelope in self.apps._outbox(self.apps.approval_db, approval_bus):
                self.apps.to_intake(envelope)
                self.to_verification(envelope)
                moved = True
            if not moved:
                return

    def submit(self, sequence: int, son_age: int, son_signed: bool) -> str:
        """A mother on a 600-yuan pension and her son, at the first town's window."""
        born = TODAY.replace(year=TODAY.year - son_age) - timedelta(days=30)
        mother = Member("钱桂英", parse_resident_id(resident_id(DISTRICT, date(1970, 3, 3),
                                                                sequence), today=TODAY),
                        "applicant", (DeclaredIncome("pension", 60_000),),
                        consent_signed_on=TODAY)
        son = Member("钱小龙", parse_resident_id(resident_id(DISTRICT, born, sequence + 2),
                                                today=TODAY),
                     "child", consent_signed_on=TODAY if son_signed else None)
        with UnitOfWork(self.apps.intake_db, intake_bus, "/onedoor/intake") as uow:
            case_id, _ = intake.submit_application(
                Application(DISTRICT, "dibao", (mother, son), town_code=TOWN), uow,
                pseudonym_key=self.apps.settings.pseudonym_key.get_secret_value().encode())
        return case_id


@pytest.fixture
def system(running: Running, tmp_path) -> Iterator[System]:  # noqa: F811
    with migrated_engine(f"sqlite:///{tmp_path / 'verification.db'}", "verification") as engine:
        yield System(running, engine)


def test_an_application_whose_son_has_not_signed_comes_back_to_the_window_with_why(system):
    """Intake refuses such a form, so the application arrives as an intake that did not check
    consent would send it: the son's consent unsigned. The clerk then reads why, and who."""
    case_id = system.submit(41, son_age=25, son_signed=True)
    [application] = system.apps._outbox(system.apps.intake_db, intake_bus)
    submitted = application.data
    assert isinstance(submitted, ev.ApplicationSubmitted)
    unsigned = submitted.model_copy(update={"members": [
        submitted.members[0], submitted.members[1].model_copy(update={"consent_signed": False})]})
    system.to_verification(Envelope(data=unsigned, source="/onedoor/intake"))
    system.apps.to_intake(application)
    system.apps.to_approval(application)
    system.relay()

    clerk = system.apps.browser("c-cixi-001")
    page = clerk.get(f"/cases/{case_id}").text
    assert '<dd id="case-stage">退回补充材料</dd>' in page and "已超时" not in page
    hold = page[page.index('id="verification-hold"'):]
    hold = hold[:hold.index("</section>")]
    assert "核对暂停：缺少家庭经济状况核对授权" in hold and "尚未签署核对授权书" in hold
    assert "成员 2：钱小龙（子女）" in hold, hold
    assert f'action="/cases/{case_id}/consent"' in hold
    lines = items(page)
    assert any("核对暂停：1 名成员尚未签署核对授权书" in line for line in lines), lines
    assert not any("verification withheld" in line for line in lines), lines
    # "Resume" would skip verification: held back, with why.
    actions = section(page, "h-actions")
    assert 'id="action-resume"' in actions and "等待成员签署核对授权书" in actions
    assert f'action="/cases/{case_id}/actions/resume"' not in actions
    english = clerk.get(f"/cases/{case_id}", cookies={"onedoor_lang": "en"}).text
    assert "Verification on hold: a consent is missing" in english
    assert "These adult members have not signed" in english and "核对暂停" not in english
    assert "<li>Member 2: 钱小龙 (Child)</li>" in english
    assert any("verification withheld: consent missing from 1 member(s)" in line
               for line in items(english))
    assert case_id in section(clerk.get("/").text, "q-consent_missing")

    # The son signs; the clerk records it on the page: back to verification, then to review.
    done = clerk.post(f"/cases/{case_id}/consent", data={
        "csrf_token": csrf(clerk.get(f"/cases/{case_id}")), "signed_on": TODAY.isoformat()})
    assert done.status_code == 303, done.text[:2000]
    assert done.headers["location"] == f"/cases/{case_id}?done=record_consent"
    system.relay()
    page = clerk.get(f"/cases/{case_id}").text
    assert 'id="verification-hold"' not in page
    assert '<dd id="case-stage">待镇街审核</dd>' in page
    assert any("核对完成" in line for line in items(page))


def test_a_periodic_review_waits_for_a_son_come_of_age_to_sign(system):
    case_id = system.submit(51, son_age=17, son_signed=False)  # a minor: no consent asked
    system.relay()
    accept(system.apps, case_id)
    system.apps.end_notice(case_id)
    approver = system.apps.browser("a-cixi")
    page = approver.get(f"/cases/{case_id}")
    assert approver.post(f"/cases/{case_id}/actions/approve", data={
        "csrf_token": csrf(page), "note": ""}).status_code == 303
    system.relay()
    # A year on (verification keeps the application's day: it moves back), the town reviews.
    with system.verification.begin() as conn:
        conn.execute(update(households).where(households.c.case_id == case_id).values(
            submitted_at=datetime.now(UTC) - timedelta(days=400)))
    with UnitOfWork(system.apps.approval_db, approval_bus, "/onedoor/approval") as uow:
        commands.request_review(uow, case_id, Actor("town_reviewer", "r-cixi-001"))
    system.relay()

    reviewer = system.apps.browser("r-cixi-001")
    page = reviewer.get(f"/cases/{case_id}").text
    assert '<dd id="case-stage">已批准</dd>' in page  # the benefit runs on
    hold = page[page.index('id="verification-hold"'):]
    assert "定期复核暂停" in hold and "成员 2：钱小龙（子女）" in hold
    home = reviewer.get("/").text
    assert case_id in section(home, "q-consent_missing")
    assert case_id not in section(home, "q-overdue")

    done = reviewer.post(f"/cases/{case_id}/consent", data={
        "csrf_token": csrf(reviewer.get(f"/cases/{case_id}")), "signed_on": "2999-01-01"})
    assert done.status_code == 422 and 'id="verification-hold"' in done.text  # nothing changed
    done = reviewer.post(f"/cases/{case_id}/consent", data={
        "csrf_token": csrf(reviewer.get(f"/cases/{case_id}")), "signed_on": TODAY.isoformat()})
    assert done.status_code == 303, done.text[:2000]
    system.relay()
    assert 'id="verification-hold"' not in reviewer.get(f"/cases/{case_id}").text
    with system.verification.connect() as conn:
        reports = ReportRepository(conn).of_case(case_id)
    assert [r.occasion for r in reports] == ["application", "periodic_review"]
