"""The time-limit dashboard (时限, issue 26) on a real approval service, and the window's page.

Approval is its real app (its bootstrap's ``create_app``, its own migrations, SQLite). Cases are
taken in through its handlers (the events as the bus would bring them) and moved by its
commands; then each case is "aged": every moment it has (submission, stage changes, the stage's
start and its limit) is moved back together, as if it had all happened that much earlier. The
limits themselves are the workflow's (15 working days of the policy's calendar, 24 hours for an
emergency, 10 working days for the district), read back from the case, so the test does not
depend on which holidays fall in the coming weeks.

The window's page is the real window, served by uvicorn, calling approval (also on uvicorn) with
each signed-in person's token; verification is not running, which the page says.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from deploy.tokens import DevTokens
from services.approval.adapters.tables import cases, stage_changes
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.domain.workflow import Actor
from services.approval.service_layer import commands
from services.approval.service_layer.dashboard import percentile
from services.approval.service_layer.handlers import handlers as approval_handlers
from services.window.bootstrap import create_app as create_window
from services.window.domain.dashboard import pending_by_department, pending_by_town
from services.window.service_layer.demo import DEMO_PASSWORD
from shared import clock
from shared.auth.principals import Role
from shared.bus.broker import free_port
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.settings import Settings, load_settings
from tests.conftest import PostgresDatabases, migrated_engine
from tests.integration.test_approval_workflow import application, report
from tests.integration.test_window_policy import csrf, serving

DISTRICT, TOWN, TOWN2 = "330282", "330282001", "330282002"
OTHER_DISTRICT, OTHER_TOWN = "370202", "370202001"
REVIEWER = Actor("town_reviewer", "t-017")
SURVEY = commands.HomeSurvey(clock.today(), "t-017, t-021", "lives alone")
PATH = "/dashboard/time-limits"
# The town review stays that ended (in TOWN2), in days: median 3, 90th percentile (nearest rank
# of 5: the 5th) 10.
REVIEW_DAYS = (1, 2, 3, 4, 10)


@dataclass
class Approval:
    app: FastAPI
    http: TestClient
    tokens: DevTokens
    settings: Settings

    def deliver(self, *events: Any) -> None:
        handle = approval_handlers(self.app.state.policy)
        for event in events:
            with self.app.state.runtime.uow() as uow:
                handle[type(event)](event, Envelope(data=event, source="/test"), uow)
                uow.commit()

    def perform(self, case_id: str, action: str, actor: Actor = REVIEWER,
                now: datetime | None = None, **kw: Any) -> None:
        with self.app.state.runtime.uow() as uow:
            commands.perform(uow, self.app.state.policy.current(), case_id, action, actor,
                             now=now, **kw)

    def case(self, case_id: str) -> dict[str, Any]:
        with self.app.state.runtime.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().one()
        return {k: clock.as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}

    def age(self, case_id: str, by: timedelta) -> None:
        """Everything the case has, moved ``by`` into the past."""
        row = self.case(case_id)
        moved = {k: row[k] - by for k in ("due_at", "notice_ends_at", "submitted_at",
                                          "stage_since") if row[k] is not None}
        with self.app.state.runtime.engine.begin() as conn:
            conn.execute(update(cases).where(cases.c.case_id == case_id).values(**moved))
            for seq, at in conn.execute(select(stage_changes.c.sequence, stage_changes.c.at)
                                        .where(stage_changes.c.case_id == case_id)).all():
                conn.execute(update(stage_changes)
                             .where(stage_changes.c.case_id == case_id,
                                    stage_changes.c.sequence == seq)
                             .values(at=clock.as_utc(at) - by))

    def span(self, case_id: str) -> timedelta:
        row = self.case(case_id)
        return row["due_at"] - row["stage_since"]

    def get(self, headers: dict[str, str], **params: str) -> dict[str, Any]:
        answer = self.http.get(PATH, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


def _to_review(approval: Approval, case_id: str, town: str, region: str = DISTRICT) -> None:
    applied = application(case_id, region=region, town_code=town)
    approval.deliver(applied, report(applied, report_id=f"r-{case_id}"))
    assert approval.case(case_id)["stage"] == "awaiting_review"


def _seed(approval: Approval) -> None:
    now = datetime.now(UTC)
    _to_review(approval, "w1", TOWN)  # just arrived: within
    _to_review(approval, "n1", TOWN)  # 90% of its time gone: near
    approval.age("n1", approval.span("n1") * 0.9)
    _to_review(approval, "p1", TOWN)  # a day past its limit
    approval.age("p1", approval.span("p1") + timedelta(days=1))
    # An emergency: 24 hours to act, 25 gone.
    approval.deliver(application("e1", programme="temporary", incomes=(0,), town_code=TOWN,
                                 temporary=ev.TemporaryRequest(
                                     kind="emergency", requested_amount_fen=100_000,
                                     cause="fire")))
    assert approval.span("e1") == timedelta(hours=24)
    approval.age("e1", timedelta(hours=25))
    approval.deliver(application("r1", town_code=TOWN))  # awaiting the report: no limit here
    # Accepted, noticed, the notice closed 8 days on (then moved back to now): at the district,
    # then two days past its 10 working days.
    _to_review(approval, "a1", TOWN)
    approval.perform("a1", "accept", home_survey=SURVEY)
    approval.perform("a1", "close_notice", now=now + timedelta(days=8))
    approval.age("a1", timedelta(days=8))
    assert approval.case("a1")["stage"] == "awaiting_approval"
    approval.age("a1", approval.span("a1") + timedelta(days=2))
    _to_review(approval, "w2", TOWN2)
    for i, days in enumerate(REVIEW_DAYS):  # reviewed in so many days, refused yesterday
        _to_review(approval, f"d{i}", TOWN2)
        approval.perform(f"d{i}", "reject", note="income above the standard",
                         now=now + timedelta(days=days))
        approval.age(f"d{i}", timedelta(days=days + 1))
    _to_review(approval, "o1", OTHER_TOWN, region=OTHER_DISTRICT)
    approval.age("o1", approval.span("o1") + timedelta(days=3))


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def approval(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Approval]:
    """Seeded once per database: the counts are SQL, and each dialect reads moments its way."""
    data_dir: Path = tmp_path_factory.mktemp("dashboard")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{data_dir / 'approval.db'}"
        else:
            databases = PostgresDatabases()
            stack.callback(databases.drop_all)
            url = databases.create()
        settings = load_settings(env="test", data_dir=data_dir, policy_paths=[DEFAULT_POLICY],
                                 approval_database_url=url)
        stack.enter_context(migrated_engine(url, "approval"))
        app = create_approval(settings)
        stack.callback(app.state.runtime.engine.dispose)
        running = Approval(app, TestClient(app), DevTokens(settings), settings)
        _seed(running)
        yield running


def _town(answer: dict[str, Any], town: str) -> dict[str, Any]:
    return next(t for t in answer["towns"] if t["town_code"] == town)


def _counts(stage: dict[str, Any]) -> tuple[int, int, int, int]:
    return stage["within"], stage["near"], stage["past"], stage["untimed"]


def test_open_cases_are_within_near_or_past_their_limit(approval):
    answer = approval.get(approval.tokens.approver(DISTRICT))
    town = _town(answer, TOWN)["stages"]
    assert _counts(town["awaiting_review"]) == (1, 1, 2, 0)  # w1; n1; p1 and the emergency
    assert _counts(town["awaiting_approval"]) == (0, 0, 1, 0)
    assert _counts(town["awaiting_report"]) == (0, 0, 0, 1)  # verification's wait, not ours
    assert town["awaiting_review"]["open"] == 4
    district = answer["districts"]
    assert [d["region_code"] for d in district] == [DISTRICT]  # another district's case: unseen
    assert (district[0]["open"], district[0]["near"], district[0]["past"]) == (7, 1, 3)
    assert answer["total"]["open"] == 7
    assert answer["timed_stages"] == ["awaiting_review", "awaiting_approval"]


def test_stage_times_are_the_median_and_90th_percentile_of_the_last_90_days(approval):
    answer = approval.get(approval.tokens.approver(DISTRICT))
    review = _town(answer, TOWN2)["stages"]["awaiting_review"]
    assert review["completed"] == len(REVIEW_DAYS)
    assert review["median_days"] == pytest.approx(3, abs=0.01)
    assert review["p90_days"] == pytest.approx(10, abs=0.01)
    # The district adds a1's review (accepted at once, 0 days) and its 8 days of notice.
    district = answer["districts"][0]["stages"]
    assert district["awaiting_review"]["completed"] == len(REVIEW_DAYS) + 1
    assert district["awaiting_review"]["median_days"] == pytest.approx(2.5, abs=0.01)
    assert district["under_notice"]["median_days"] == pytest.approx(8, abs=0.01)
    assert percentile([5.0, 1.0, 3.0], 0.9) == 5.0 and percentile([2.0], 0.5) == 2.0


def test_the_trend_counts_the_cases_past_their_limit_each_day(approval):
    trend = approval.get(approval.tokens.auditor())["trend"]
    assert len(trend["days"]) == 90 and trend["days"][-1] == clock.today().isoformat()
    # Today: p1, the emergency and the other district's case at the town; a1 at the district.
    assert trend["past"]["awaiting_review"][-1] == 3
    assert trend["past"]["awaiting_approval"][-1] == 1
    assert trend["open"][-1] == 7  # w1 n1 p1 e1 a1 w2 o1
    # The refused cases were in review from 2 to 11 days ago, never late: the open count then
    # holds them, the late one does not.
    assert trend["open"][-3] >= len(REVIEW_DAYS)
    assert max(trend["past"]["awaiting_review"][:-5]) <= 1  # only o1 was late that long ago


def test_each_reader_sees_their_own_towns_only(approval):
    tokens = approval.tokens
    own = approval.get(tokens.reviewer(TOWN))
    assert [t["town_code"] for t in own["towns"]] == [TOWN]
    assert own["total"]["open"] == 6
    other = approval.get(tokens.reviewer("330282003"))  # a town of Cixi with no case
    assert other["towns"] == [] and other["total"]["open"] == 0
    assert sum(other["trend"]["open"]) == 0
    far = approval.get(tokens.approver(OTHER_DISTRICT))
    assert [t["town_code"] for t in far["towns"]] == [OTHER_TOWN]
    # A place asked for narrows the reach; one outside it gives nothing, not another's cases.
    narrowed = approval.get(tokens.auditor(), town_code=TOWN2)
    assert [t["town_code"] for t in narrowed["towns"]] == [TOWN2]
    outside = approval.get(tokens.reviewer(TOWN), region_code=OTHER_DISTRICT)
    assert outside["towns"] == [] and outside["total"]["open"] == 0
    assert approval.http.get(PATH).status_code == 401
    refused = approval.http.get(PATH, headers=tokens.headers(Role.POLICY_OFFICER, "p", DISTRICT))
    assert refused.status_code == 403
    assert approval.http.get(PATH, params={"town_code": "33"},
                             headers=tokens.auditor()).status_code == 422


def test_the_counts_come_as_csv(approval):
    answer = approval.http.get(PATH, params={"format": "csv"},
                               headers=approval.tokens.approver(DISTRICT))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    review = next(r for r in rows if r["level"] == "town" and r["town_code"] == TOWN
                  and r["stage"] == "awaiting_review")
    assert (review["open"], review["within"], review["near"], review["past"]) == (
        "4", "1", "1", "2")
    done = next(r for r in rows if r["level"] == "town" and r["town_code"] == TOWN2
                and r["stage"] == "awaiting_review")
    assert (float(done["median_days"]), float(done["p90_days"])) == pytest.approx((3, 10),
                                                                                  abs=0.01)
    assert not any(r["region_code"] == OTHER_DISTRICT for r in rows)


def test_the_calendar_behind_the_working_days_is_said(approval):
    calendar = approval.get(approval.tokens.auditor())["calendar"]
    assert {2026, 2027} <= set(calendar["holiday_years"])
    assert 2026 in calendar["workday_years"]  # the State Council's make-up days of 2026


# --- the window's page ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def window(approval: Approval) -> Iterator[str]:
    """The window on uvicorn, calling the seeded approval (on uvicorn too); no verification."""
    ports = {"approval": free_port(), "window": free_port()}
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = approval.settings.model_copy(update={
        "window_database_url": f"sqlite:///{approval.settings.data_dir / 'window.db'}",
        "approval_url": f"http://127.0.0.1:{ports['approval']}", "intake_url": nowhere,
        "verification_url": nowhere, "payment_url": nowhere})
    with serving(approval.app, ports["approval"], "off"), \
            serving(create_window(settings), ports["window"], "on"):
        yield f"http://127.0.0.1:{ports['window']}"


@contextlib.contextmanager
def _browser(url: str, account: str, lang: str = "zh") -> Iterator[httpx.Client]:
    """A person's browser, signed in at the window (an httpx client with its cookies)."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30,
                      cookies={"onedoor_lang": lang}) as http:
        done = http.post("/sign-in", data={"account": account, "password": DEMO_PASSWORD,
                                           "csrf_token": csrf(http.get("/sign-in"))})
        assert done.status_code == 303, done.text
        yield http


def _row(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page, re.S)
    assert found, row_id
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_the_page_shows_the_counts_as_tables_for_the_readers_reach(window):
    with _browser(window, "a-cixi") as district:  # Cixi's district approver
        page = district.get("/dashboard")
        assert page.status_code == 200, page.text
        html = page.text
        assert 'href="/dashboard" aria-current="page"' in html and ">时限<" in html
        # 待镇街审核: 5 open — 2 within, 1 near, 2 past; left in 90 days: 6, median 2.5 days.
        assert _row(html, "stage-awaiting_review").split() == [
            "待镇街审核", "5", "2", "1", "2", "—", "6", "2.5", "天", "10.0", "天"]
        assert _row(html, "stage-awaiting_approval").split()[:5] == ["待区县审批", "1", "0", "0",
                                                                     "1"]
        assert _row(html, f"town-{TOWN}").split()[:4] == [TOWN, "6", "1", "3"]
        assert f"town-{TOWN2}" in html and OTHER_TOWN not in html
        assert "国务院办公厅节假日安排通知" in html and "2027 年暂按法定节假日计算" in html
        assert "verification 服务暂时无法访问" in html  # not running here: the page says so
        data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">'
                                    r"(.*?)</script>", html, re.S).group(1))
        assert data["stages"]["labels"][1] == "待镇街审核"  # the charts' words, in Chinese
        assert (data["stages"]["within"][1], data["stages"]["past"][1]) == (2, 2)
        assert data["trend"]["past"][0]["data"][-1] == 2 and len(data["trend"]["labels"]) == 90

        narrowed = district.get("/dashboard", params={"town_code": TOWN2}).text
        assert f"town-{TOWN2}" in narrowed and f"town-{TOWN}" not in narrowed

        download = district.get("/dashboard", params={"format": "csv"})
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        assert download.text.startswith("level,region_code,town_code,stage,open")
        assert f"town,{DISTRICT},{TOWN},awaiting_review,4,1,1,2" in download.text

    with _browser(window, "r-cixi-001") as town:  # the reviewer of TOWN only
        html = town.get("/dashboard").text
        assert f"town-{TOWN}" in html and f"town-{TOWN2}" not in html
    with _browser(window, "c-cixi-002") as clerk:  # a clerk of TOWN2: its one open case
        html = clerk.get("/dashboard").text
        assert f"town-{TOWN2}" in html and f"town-{TOWN}" not in html
    with _browser(window, "au-001", lang="en") as auditor:  # everywhere, in English
        html = auditor.get("/dashboard").text
        assert f"town-{OTHER_TOWN}" in html and 'id="all-total"' in html
        assert ">Time limits<" in html and "Awaiting town review" in html
    with _browser(window, "p-cixi-001") as officer:  # a policy officer reads no cases
        assert officer.get("/dashboard").status_code == 403
        assert 'href="/dashboard"' not in officer.get("/policy").text


def test_verifications_waiting_reports_are_counted_by_town():
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    pending = [  # as verification's GET /pending-reports lists them
        {"town_code": TOWN, "region_code": DISTRICT, "since": "2026-12-05T12:00:00+00:00",
         "missing": [{"department": "tax", "reason": "timeout"},
                     {"department": "bank", "reason": "503"}]},
        {"town_code": TOWN, "region_code": DISTRICT, "since": "2026-12-07T00:00:00+00:00",
         "missing": [{"department": "tax", "reason": "timeout"}]},
        {"town_code": None, "region_code": DISTRICT, "since": "2026-12-06T12:00:00+00:00",
         "missing": []},
        {"town_code": TOWN2, "since": "not a moment"}]
    waiting = pending_by_town(pending, now)
    assert (waiting[TOWN].count, waiting[TOWN].oldest_days) == (2, 2.0)
    assert waiting[DISTRICT].count == 1 and TOWN2 not in waiting
    assert pending_by_department(pending) == [("tax", 2), ("bank", 1)]
