"""The case page as a reviewer reads it (issue 26): only the actions that succeed now (the others
disabled, with why and the day they open), one timeline in order without repeats, figures in
yuan, and one language at a time.

Intake and approval are their real apps (own migrations, SQLite, the packaged policy with its
7-day public notice) served by uvicorn with their lifespans off (no broker): each service's
outbox is handed to the other's handlers as its consumer would. Verification's report is made
here, and reaches intake before approval has opened the case (each consumes the application on
its own): the order in which a busy system delivers it. The window is its real app, with its
lifespan; each person is a browser (httpx, own cookies, redirects not followed). Verification
and payment are down: the page shows what it can without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from deploy.households import resident_id
from services.approval.adapters.tables import bus as approval_bus
from services.approval.adapters.tables import cases as approval_cases
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.domain.policy import load_policy
from services.approval.service_layer.handlers import handlers as approval_handlers
from services.intake.adapters.repository import CaseRepository
from services.intake.adapters.tables import bus as intake_bus
from services.intake.bootstrap import create_app as create_intake
from services.intake.domain.model import Application, DeclaredIncome, Member
from services.intake.service_layer import commands as intake_commands
from services.intake.service_layer import handlers as intake
from services.window.bootstrap import create_app as create_window
from services.window.entrypoints.web import local_time
from services.window.service_layer.demo import DEMO_PASSWORD
from shared.bus.broker import free_port
from shared.events import catalogue as ev
from shared.events.envelope import Envelope, from_record
from shared.resident_id import parse_resident_id
from shared.settings import Settings, load_settings
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_window_policy import csrf, serving

DISTRICT, TOWN = "330282", "330282001"
POLICY = load_policy(DEFAULT_POLICY)
_CJK = re.compile(r"[\u3400-\u9fff\uff08\uff09\uff0c\uff1a]")


@dataclass
class Running:
    settings: Settings
    window_url: str
    intake_db: Engine
    approval_db: Engine
    delivered: set[str] = field(default_factory=set)

    def browser(self, account: str, lang: str = "zh") -> httpx.Client:
        http = httpx.Client(base_url=self.window_url, follow_redirects=False, timeout=30,
                            cookies={"onedoor_lang": lang})
        form = http.get("/sign-in")
        done = http.post("/sign-in", data={"account": account, "password": DEMO_PASSWORD,
                                           "csrf_token": csrf(form)})
        assert done.status_code == 303, done.text
        return http

    def submit(self, sequence: int) -> str:
        """A pensioner living alone on 600 yuan a month, received at the first town's window."""
        rid = parse_resident_id(resident_id(DISTRICT, date(1950, 3, 3), sequence),
                                today=date.today())
        member = Member("钱桂英", rid, "applicant", (DeclaredIncome("pension", 60_000),),
                        consent_signed_on=date.today())
        with UnitOfWork(self.intake_db, intake_bus, "/onedoor/intake") as uow:
            case_id, _ = intake_commands.submit_application(
                Application(DISTRICT, "dibao", (member,), town_code=TOWN), uow,
                pseudonym_key=self.settings.pseudonym_key.get_secret_value().encode())
        return case_id

    def _outbox(self, engine: Engine, table: Any) -> list[Envelope]:
        with engine.connect() as conn:
            rows = conn.execute(select(table.outbox).order_by(table.outbox.c.created_at)
                                ).mappings().all()
        found = []
        for row in rows:
            if row["event_id"] in self.delivered:
                continue
            self.delivered.add(row["event_id"])
            headers = [(str(k), str(v).encode()) for k, v in json.loads(row["headers"])]
            found.append(from_record(bytes(row["value"]), headers))
        return found

    def to_approval(self, envelope: Envelope) -> None:
        handler: Any = approval_handlers(POLICY).get(type(envelope.data))
        if handler is not None:
            with UnitOfWork(self.approval_db, approval_bus, "/onedoor/approval") as uow:
                handler(envelope.data, envelope, uow)
                uow.commit()

    def to_intake(self, envelope: Envelope) -> None:
        handler: Any = intake.HANDLERS.get(type(envelope.data))
        if handler is not None:
            with UnitOfWork(self.intake_db, intake_bus, "/onedoor/intake") as uow:
                handler(envelope.data, envelope, uow)
                uow.commit()

    def relay(self) -> None:
        """Every event not yet delivered, from each service to the other."""
        for envelope in self._outbox(self.intake_db, intake_bus):
            self.to_approval(envelope)
        for envelope in self._outbox(self.approval_db, approval_bus):
            self.to_intake(envelope)

    def reported_first(self, case_id: str) -> None:
        """Verification reports on the application before approval has opened its case."""
        application = self._outbox(self.intake_db, intake_bus)[-1]
        self.to_intake(application)  # intake's own event: nothing routes it back, harmless
        submitted = application.data
        assert isinstance(submitted, ev.ApplicationSubmitted)
        member = submitted.members[0]
        report = Envelope(data=ev.VerificationReported(
            case_id=case_id, report_id=f"r-{case_id}", region_code=DISTRICT,
            programme="dibao", applicant_ref=member.person_ref, household_size=1,
            members=[ev.MemberIncome(person_ref=member.person_ref,
                                     declared_monthly_fen=60_000,
                                     verified_monthly_fen=60_000, counted_monthly_fen=60_000,
                                     sources=["hr_social_security:pension"])],
            assets=ev.AssetSummary(real_estate_count=0, vehicle_count=0, deposits_fen=0),
            household_monthly_income_fen=60_000, per_capita_monthly_income_fen=60_000,
            reported_at=datetime.now(UTC)), source="/onedoor/verification")
        self.to_intake(report)
        self.to_approval(report)  # kept until the application reaches approval
        self.to_approval(application)
        self.relay()

    def end_notice(self, case_id: str) -> None:
        """The notice's seven days pass (approval reads the real clock): its end moves back."""
        with self.approval_db.begin() as conn:
            conn.execute(update(approval_cases).where(approval_cases.c.case_id == case_id)
                         .values(notice_ends_at=datetime.now(UTC) - timedelta(minutes=1)))

    def notice_ends(self, case_id: str) -> str:
        with self.approval_db.connect() as conn:
            ends = conn.execute(select(approval_cases.c.notice_ends_at).where(
                approval_cases.c.case_id == case_id)).scalar_one()
        return local_time(ends.isoformat())


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir: Path = tmp_path_factory.mktemp("case-page")
    ports = {name: free_port() for name in ("intake", "approval", "window")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"  # verification and payment are down
    dbs = {name: f"sqlite:///{data_dir / name}.db" for name in ("intake", "approval", "window")}
    settings = load_settings(env="test", data_dir=data_dir, policy_paths=[DEFAULT_POLICY],
                             intake_database_url=dbs["intake"],
                             approval_database_url=dbs["approval"],
                             window_database_url=dbs["window"], intake_url=urls["intake"],
                             approval_url=urls["approval"], verification_url=nowhere,
                             payment_url=nowhere)
    with migrated_engine(dbs["intake"], "intake") as intake_db, \
            migrated_engine(dbs["approval"], "approval") as approval_db:
        intake_app, approval_app = create_intake(settings), create_approval(settings)
        try:
            with serving(intake_app, ports["intake"], "off"), \
                    serving(approval_app, ports["approval"], "off"), \
                    serving(create_window(settings), ports["window"], "on"):
                yield Running(settings, urls["window"], intake_db, approval_db)
        finally:
            intake_app.state.runtime.engine.dispose()
            approval_app.state.runtime.engine.dispose()


def section(page: str, heading: str) -> str:
    """A section of the page by its heading's id (h-actions, h-timeline, h-decision…)."""
    start = page.index(f'aria-labelledby="{heading}"')
    return page[start:page.index("</section>", start)]


def items(page: str) -> list[str]:
    """The timeline's lines as text: the time, then the line."""
    listed = section(page, "h-timeline")
    return [re.sub(r"<[^>]+>", "", li).strip()
            for li in re.findall(r"<li>(.*?)</li>", listed, flags=re.S)]


def accept(running: Running, case_id: str) -> None:
    reviewer = running.browser("r-cixi-001")
    page = reviewer.get(f"/cases/{case_id}")
    assert '<form method="post" action="/cases/' + case_id + '/actions/accept"' in page.text
    done = reviewer.post(f"/cases/{case_id}/actions/accept", data={
        "csrf_token": csrf(page), "surveyed_on": date.today().isoformat(),
        "surveyors": "r-cixi-001, r-cixi-002", "findings": "独居，与申报一致", "note": ""})
    assert done.status_code == 303, done.text[:3000]
    running.relay()


@pytest.fixture(scope="module")
def noticed(running: Running) -> str:
    """A case under its public notice, verification having reported before approval opened it."""
    case_id = running.submit(31)
    running.reported_first(case_id)
    accept(running, case_id)
    return case_id


def test_during_the_notice_approve_is_shown_disabled_with_the_day_it_opens(running, noticed):
    ends = running.notice_ends(noticed)
    page = running.browser("a-cixi").get(f"/cases/{noticed}").text
    actions = section(page, "h-actions")
    held = actions[actions.rindex("<div", 0, actions.index('id="action-approve"')):]
    held = held[:held.index("</div>")]
    assert 'class="action held"' in held and "<button type=\"button\" disabled" in held
    assert "公示期未满" in held and f"{ends} 起可办理" in held, held
    assert f'action="/cases/{noticed}/actions/approve"' not in page  # no form to send
    for offered in ("object", "reject"):  # what the approver may do now
        assert f'<form method="post" action="/cases/{noticed}/actions/{offered}"' in actions
    english = running.browser("a-cixi", "en").get(f"/cases/{noticed}").text
    assert f"The public notice has not ended; Possible from {ends}" in english
    # The reviewer's close of the notice waits for the same day; accepting is over.
    reviewer = section(running.browser("r-cixi-001").get(f"/cases/{noticed}").text, "h-actions")
    assert 'id="action-close_notice"' in reviewer and f"{ends} 起可办理" in reviewer
    assert "actions/accept" not in reviewer


def test_after_the_notice_approve_is_a_form_and_it_succeeds(running):
    case_id = running.submit(32)
    running.reported_first(case_id)
    accept(running, case_id)
    running.end_notice(case_id)
    approver = running.browser("a-cixi")
    page = approver.get(f"/cases/{case_id}")
    assert f'<form method="post" action="/cases/{case_id}/actions/approve"' in page.text
    assert 'class="action held"' not in section(page.text, "h-actions")
    done = approver.post(f"/cases/{case_id}/actions/approve",
                         data={"csrf_token": csrf(page), "note": "同意"})
    assert done.status_code == 303, done.text[:2000]


def test_the_timeline_is_in_order_and_each_move_is_shown_once(running, noticed):
    with running.intake_db.connect() as conn:
        stored = [e["summary"] for e in CaseRepository(conn).get(noticed)["timeline"]]
    # As intake has it, by the clock: the report came before approval opened the case.
    assert [s.split(" ")[0] for s in stored[:3]] == ["申请已受理", "核对完成", "待核对"], stored
    lines = items(running.browser("a-cixi").get(f"/cases/{noticed}").text)
    kinds = [next((k for k, w in (("received", "申请已受理"), ("awaiting_report", "待核对"),
                                  ("verified", "核对完成"), ("assessed", "预审："),
                                  ("awaiting_review", "待镇街审核"), ("under_notice", "公示中"))
                   if w in line), line) for line in lines]
    assert kinds == ["received", "awaiting_report", "verified", "assessed", "awaiting_review",
                     "under_notice"], lines
    # Approval's actor and the reviewer's words on the move itself, not on a second line.
    assert "镇街审核 r-cixi-001" in lines[-1] and "→" not in "".join(lines)


def test_figures_are_in_yuan_and_the_machine_fields_only_on_request(running, noticed):
    decision = section(running.browser("a-cixi").get(f"/cases/{noticed}").text, "h-decision")
    assert "家庭月收入</span>：600.00 元" in decision
    assert "低保标准</span> = 1,005.00 元" in decision
    shown = re.sub(r"<details.*?</details>", "", decision, flags=re.S)
    shown = re.sub(r' title="[^"]*"', "", shown)
    assert "household_income_fen" not in shown and "60000" not in shown
    assert "household_income_fen: 60000" in decision  # in the <details>, and as a title
    english = section(running.browser("a-cixi", "en").get(f"/cases/{noticed}").text,
                      "h-decision")
    assert "Household income a month</span>: 600.00 yuan" in english


def test_each_reader_reads_the_timeline_in_their_language_only(running, noticed):
    english = items(running.browser("a-cixi", "en").get(f"/cases/{noticed}").text)
    assert english and not [line for line in english if _CJK.search(line)], english
    assert any(line.endswith("Application received (1 members)") for line in english)
    chinese = " ".join(items(running.browser("a-cixi").get(f"/cases/{noticed}").text))
    for word in ("application received", "verified", "awaiting", "pre-assessment", "yuan",
                 "eligible", "note on file", "received"):
        assert word not in chinese.lower(), chinese
