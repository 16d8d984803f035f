"""The policy officers' pages (政策管理, issue 22 §2) against a real approval service.

Approval is its real app (its bootstrap's ``create_app``, its own migrations, SQLite) served by
uvicorn on a free port with its lifespan off: no broker, the recalculation job run by hand. The
window is its real app too, served by uvicorn with its lifespan (migrations, demo accounts) and
calling approval over HTTP with each signed-in officer's token; each officer is a browser of
their own (an httpx client with its cookies) that never follows redirects.

One household of Cixi gets Dibao first (its events handed to approval's handlers, the town and
the district acting through approval's API), so that publishing a new Dibao standard has someone
to recalculate.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from deploy.tokens import DevTokens
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.service_layer import recalculation
from services.approval.service_layer.handlers import handlers as approval_handlers
from services.window.bootstrap import create_app as create_window
from services.window.domain.policy_form import (
    first_of_next_month,
    parse_value,
    problems_from_answer,
)
from services.window.domain.simulation import bars, signed_yuan
from services.window.entrypoints.i18n import translate
from services.window.entrypoints.web import yuan
from services.window.service_layer.demo import DEMO_PASSWORD
from shared import clock
from shared.auth.principals import Role
from shared.bus.broker import free_port
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.settings import load_settings
from tests.conftest import ROOT, migrated_engine

POLICY_PATHS = [DEFAULT_POLICY, ROOT / "tests" / "e2e" / "fast_notice.toml"]
DISTRICT, TOWN = "330282", "330282001"
PROPOSER, SECOND = "p-cixi-001", "p-cixi-002"
STANDARD = "dibao.monthly_standard_fen"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Running:
    window_url: str
    approval: FastAPI
    approval_url: str
    tokens: DevTokens
    case_id: str

    def browser(self, account: str, lang: str = "zh") -> httpx.Client:
        """A browser with ``account`` signed in at the window, as a person does it."""
        http = httpx.Client(base_url=self.window_url, follow_redirects=False, timeout=30,
                            cookies={"onedoor_lang": lang})
        form = http.get("/sign-in")
        done = http.post("/sign-in", data={"account": account, "password": DEMO_PASSWORD,
                                           "csrf_token": csrf(form)})
        assert done.status_code == 303, done.text
        return http

    def api(self, path: str) -> Any:
        """What approval itself answers a policy officer of Cixi."""
        answer = httpx.get(self.approval_url + path, timeout=10, headers=self.tokens.headers(
            Role.POLICY_OFFICER, "test-officer", DISTRICT))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def api_call(self, method: str, path: str, body: Any = None,
                 params: dict[str, str] | None = None) -> httpx.Response:
        """Approval itself, asked by a policy officer of Cixi (the answer as it came)."""
        answer = httpx.request(method, self.approval_url + path, json=body, params=params,
                               timeout=30, headers=self.tokens.headers(
                                   Role.POLICY_OFFICER, "test-officer", DISTRICT))
        assert answer.status_code in (200, 201), answer.text
        return answer


@contextlib.contextmanager
def serving(app: FastAPI, port: int, lifespan: str) -> Iterator[None]:
    """``app`` on uvicorn on 127.0.0.1:``port``, in a thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "it did not start"
            time.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        thread.join(20)


def csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def zh(key: str, *args: object) -> str:
    return translate(key, "zh", *args)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir: Path = tmp_path_factory.mktemp("window-policy")
    ports = {"approval": free_port(), "window": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"  # the other services are not needed here
    approval_db = f"sqlite:///{data_dir / 'approval.db'}"
    settings = load_settings(env="test", data_dir=data_dir, policy_paths=POLICY_PATHS,
                             approval_database_url=approval_db,
                             window_database_url=f"sqlite:///{data_dir / 'window.db'}",
                             approval_url=urls["approval"], intake_url=nowhere,
                             verification_url=nowhere, payment_url=nowhere)
    with migrated_engine(approval_db, "approval"):
        approval = create_approval(settings)
        try:
            with serving(approval, ports["approval"], "off"):
                tokens = DevTokens(settings)
                case_id = _dibao_recipient(approval, urls["approval"], tokens)
                with serving(create_window(settings), ports["window"], "on"):
                    yield Running(urls["window"], approval, urls["approval"], tokens, case_id)
        finally:
            approval.state.runtime.engine.dispose()


def _dibao_recipient(approval: FastAPI, url: str, tokens: DevTokens) -> str:
    """A pensioner of Cixi living alone, on Dibao: taken in, verified, accepted, approved."""
    case_id = "c-policy-0001"
    member = ev.MemberFacts(person_ref="p-policy-1", relation="applicant", age_years=70,
                            consent_signed=True, declared_incomes=[ev.DeclaredIncome(
                                kind="pension", monthly_amount_fen=60_000)])
    applied = ev.ApplicationSubmitted(case_id=case_id, region_code=DISTRICT, town_code=TOWN,
                                      programme="dibao", submitted_at=datetime.now(UTC),
                                      members=[member])
    reported = ev.VerificationReported(
        case_id=case_id, report_id="r-policy-1", region_code=DISTRICT, programme="dibao",
        applicant_ref="p-policy-1", household_size=1, members=[ev.MemberIncome(
            person_ref="p-policy-1", declared_monthly_fen=60_000, verified_monthly_fen=0,
            counted_monthly_fen=60_000, sources=[], employment_monthly_fen=0)],
        assets=ev.AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=0),
        household_monthly_income_fen=60_000, per_capita_monthly_income_fen=60_000,
        reported_at=datetime.now(UTC), occasion="application")
    handle = approval_handlers(approval.state.policy)
    for event in (applied, reported):
        with approval.state.runtime.uow() as uow:
            handler: Any = handle[type(event)]
            handler(event, Envelope(data=event, source="/test"), uow)
            uow.commit()
    today = clock.today().isoformat()
    for headers, action in (
            (tokens.reviewer(TOWN), {"action": "accept", "note": "as assessed", "home_survey": {
                "surveyed_on": today, "surveyors": "t-1, t-2", "findings": "lives alone"}}),
            (tokens.approver(DISTRICT), {"action": "approve", "note": "as assessed"})):
        done = httpx.post(f"{url}/cases/{case_id}/actions", json=action, headers=headers,
                          timeout=10)
        assert done.status_code == 200, done.text
    case = httpx.get(f"{url}/cases/{case_id}", headers=tokens.service(), timeout=10).json()
    assert case["stage"] == "approved", case
    return case_id


# --- the form's arithmetic --------------------------------------------------------------------

@pytest.mark.parametrize(("unit", "typed", "kept"), [
    ("fen", "1105", 110_500), ("fen", "1,105.5", 110_550), ("fen", "1105.10", 110_510),
    ("fen", "0.29", 29), ("fen", "1105.10元", 110_510), ("fen", "¥ 8,000", 800_000),
    ("permille", "1500", 1500), ("days", "7", 7), ("flag", "1", 1),
])
def test_a_typed_value_becomes_the_integer_approval_keeps(unit, typed, kept):
    assert parse_value(unit, typed) == (kept, None)


@pytest.mark.parametrize(("unit", "typed"), [
    ("fen", "1105.123"), ("fen", "-5"), ("fen", "1e3"), ("fen", ""), ("fen", "NaN"),
    ("permille", "1.5"), ("days", "-1"), ("flag", "2"),
])
def test_a_value_that_is_no_amount_is_refused_on_its_field(unit, typed):
    value, problem = parse_value(unit, typed)
    assert value is None and problem is not None and problem.field == "value"


def test_the_earliest_date_is_the_first_of_next_month_and_refusals_find_their_field():
    assert first_of_next_month(date(2026, 12, 15)) == date(2027, 1, 1)
    assert first_of_next_month(date(2027, 1, 31)) == date(2027, 2, 1)
    [named] = problems_from_answer(422, [{"loc": ["body", "source"], "msg": "too long"}])
    [dated] = problems_from_answer(409, "effective_from is before 2027-01-01")
    [place] = problems_from_answer(403, "outside your jurisdiction")
    assert (named.field, dated.field, place.field) == ("source", "effective_from", "region_code")


# --- four eyes, through the pages --------------------------------------------------------------

def test_one_officer_proposes_another_approves_and_the_households_are_recalculated(running):
    first = running.browser(PROPOSER)
    home = first.get("/")
    assert home.status_code == 200 and 'href="/policy"' in home.text
    assert 'href="/monitoring"' not in home.text  # not a policy officer's page

    form = first.get("/policy/new?name=" + STANDARD)
    assert form.status_code == 200 and f'<option value="{STANDARD}" selected' in form.text
    effective = first_of_next_month(clock.today()).isoformat()
    assert f'value="{effective}"' in form.text and f'value="{DISTRICT}"' in form.text
    sent = {"csrf_token": csrf(form), "name": STANDARD, "region_code": DISTRICT,
            "effective_from": effective, "value": "1,105.50", "source": "慈政发〔2026〕12号",
            "reason": "年度调整：上调10%"}

    # What approval refuses comes back beside its field, the form as typed, nothing made.
    too_early = first.post("/policy/new", data={**sent, "effective_from": clock.today().replace(
        day=1).isoformat()})
    assert too_early.status_code == 409
    assert 'id="effective_from-error"' in too_early.text and "not yet paid" in too_early.text
    assert "慈政发〔2026〕12号" in too_early.text
    elsewhere = first.post("/policy/new", data={**sent, "region_code": "370202"})
    assert elsewhere.status_code == 403 and 'id="region_code-error"' in elsewhere.text
    bad_amount = first.post("/policy/new", data={**sent, "value": "1105.505"})
    assert bad_amount.status_code == 422 and 'id="value-error"' in bad_amount.text
    assert running.api("/policy/proposals")["proposals"] == []

    made = first.post("/policy/new", data=sent)
    assert made.status_code == 303, made.text
    proposal_id = made.headers["location"].split("/")[-1].split("?")[0]
    [proposal] = running.api("/policy/proposals?status=proposed")["proposals"]
    assert proposal["proposal_id"] == proposal_id
    assert proposal["value"] == 110_550 and proposal["replaces_value"] == 100_500  # fen, exact
    shown = first.get(made.headers["location"])
    assert shown.status_code == 200 and zh("proposal_made") in shown.text
    assert "1,105.50 元" in shown.text and "1,005.00 元" in shown.text

    # The proposer sees it waiting, without an approve button, and why.
    listed = first.get("/policy")
    assert listed.status_code == 200 and f'id="p-{proposal_id}"' in listed.text
    assert f"/policy/proposals/{proposal_id}/approve" not in listed.text
    assert zh("four_eyes") in listed.text
    in_english = running.browser(PROPOSER, lang="en").get("/policy")
    assert "four eyes: another officer must approve" in in_english.text
    # Sent anyway, approval refuses it and the page says approval's reason.
    forced = first.post(f"/policy/proposals/{proposal_id}/approve",
                        data={"csrf_token": csrf(listed)})
    assert forced.status_code == 409 and "four eyes" in forced.text
    assert running.api(f"/policy/proposals/{proposal_id}")["status"] == "proposed"

    # The second officer: a rejection needs its reason; the approval publishes.
    second = running.browser(SECOND)
    waiting = second.get("/policy")
    assert f"/policy/proposals/{proposal_id}/approve" in waiting.text
    no_note = second.post(f"/policy/proposals/{proposal_id}/reject",
                          data={"csrf_token": csrf(waiting), "note": "  "})
    assert no_note.status_code == 422 and zh("note_required") in no_note.text
    approved = second.post(f"/policy/proposals/{proposal_id}/approve",
                           data={"csrf_token": csrf(waiting), "note": "同意"})
    assert approved.status_code == 303, approved.text
    progress_url = approved.headers["location"]
    job_id = progress_url.split("/")[-1].split("?")[0]
    published = running.api(f"/policy/proposals/{proposal_id}")
    assert published["status"] == "published" and published["recalculation_job_id"] == job_id

    queued = second.get(progress_url)
    assert queued.status_code == 200 and zh("proposal_published") in queued.text
    assert 'http-equiv="refresh"' in queued.text  # it reloads itself until done

    runtime = running.approval.state.runtime
    assert recalculation.run_pending(runtime.uow, runtime.engine, running.approval.state.policy,
                                     "test-worker") == 1
    job = running.api(f"/policy/recalculations/{job_id}")
    [household] = job["households"]
    assert household["case_id"] == running.case_id and job["status"] == "done"
    done = first.get(f"/policy/recalculations/{job_id}")
    assert done.status_code == 200 and 'http-equiv="refresh"' not in done.text
    assert zh("recalc_total") in done.text and running.case_id in done.text
    assert f"{yuan(household['old_monthly_fen'])} 元" in done.text
    assert f"{yuan(household['new_monthly_fen'])} 元" in done.text

    history = first.get(f"/policy/history?name={STANDARD}&region_code={DISTRICT}")
    assert history.status_code == 200
    row = re.search(rf'<tr id="h-{proposal_id}">(.*?)</tr>', history.text, re.S)
    assert row, history.text
    assert f"policy_officer:{PROPOSER}" in row.group(1)
    assert f"policy_officer:{SECOND}" in row.group(1) and "1,105.50 元" in row.group(1)
    assert "1,005.00 元" in history.text  # the packaged version stays in the history


def test_approvers_read_along_and_clerks_do_not_see_policy(running):
    approver = running.browser("a-cixi")
    page = approver.get("/policy")
    assert page.status_code == 200 and zh("policy_read_only") in page.text
    assert "/approve" not in page.text and 'href="/policy/new"' not in page.text
    assert approver.get("/policy/history").status_code == 200
    assert approver.get("/policy/new").status_code == 403
    assert approver.post("/policy/new", data={"csrf_token": csrf(page)}).status_code == 403

    clerk = running.browser("c-cixi-001")
    assert 'href="/policy"' not in clerk.get("/").text
    assert clerk.get("/policy").status_code == 403


# --- 政策测算: what a figure would change, before it is published --------------------------------

_CHART_DATA = re.compile(r'<script type="application/json" id="simulation-data">(.*?)</script>',
                         re.S)


def _shown_like_approval(page: httpx.Response, expected: dict[str, Any]) -> None:
    """The page shows approval's own answer: every count, the cost, the town's row, and the
    charts' data block that static/policy_charts.js reads."""
    assert page.status_code == 200, page.text
    for outcome, count in expected["households"].items():
        assert f'<dd id="sim-{outcome}">{count}</dd>' in page.text
    cost = expected["monthly_cost_fen"]
    assert f"{yuan(cost['before'])} 元" in page.text and f"{yuan(cost['after'])} 元" in page.text
    assert f"{signed_yuan(cost['change'])} 元" in page.text
    [town] = [t for t in expected["by_town"] if t["town_code"] == TOWN]
    row = re.search(rf'<tr id="town-{TOWN}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert f"{yuan(town['before_fen'])} 元" in row.group(1)
    assert f"{yuan(town['after_fen'])} 元" in row.group(1)
    assert f"{signed_yuan(town['change_fen'])} 元" in row.group(1)
    found = _CHART_DATA.search(page.text)
    assert found, page.text
    charts = json.loads(found.group(1))
    assert TOWN in charts["towns"]["labels"]
    assert charts["towns"]["after"][charts["towns"]["labels"].index(TOWN)] == (
        town["after_fen"] / 100)
    assert sum(charts["distribution"]["after"]) == sum(
        b["after"] for b in expected["distribution"]["bins"])
    # Chart.js and the charts' script, from the window itself: no other origin, no inline code.
    assert '<script src="/static/vendor/chart.umd.js" defer></script>' in page.text
    assert '<script src="/static/policy_charts.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def _csv_link(page: httpx.Response) -> str:
    found = re.search(r'<a class="button secondary" id="sim-csv" href="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1).replace("&amp;", "&")


def test_a_what_if_shows_what_approval_counts_as_tables_charts_and_csv(running):
    officer = running.browser(PROPOSER)
    listed = officer.get("/policy")
    assert 'href="/policy/simulate"' in listed.text
    form = officer.get("/policy/simulate")
    assert form.status_code == 200 and f'<option value="{STANDARD}"' in form.text
    assert f'value="{DISTRICT}"' in form.text and "simulation-data" not in form.text
    effective = first_of_next_month(clock.today()).isoformat()
    asked = {"name": STANDARD, "region_code": DISTRICT, "effective_from": effective,
             "value": "2,000.00"}
    expected = running.api_call("POST", "/policy/simulations", {
        **asked, "value": 200_000}).json()
    # The seeded pensioner (600 yuan a month) is paid the standard less the pension: a higher
    # standard changes the amount, and the cost rises by as much.
    assert expected["households"]["changed"] >= 1 and expected["monthly_cost_fen"]["change"] > 0

    page = officer.get("/policy/simulate", params=asked)
    _shown_like_approval(page, expected)
    assert "2,000.00 元" in page.text  # the value simulated, as typed

    link = _csv_link(page)
    assert link.startswith("/policy/simulate?") and "format=csv" in link
    download = officer.get(link)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment")
    direct = running.api_call("POST", "/policy/simulations", {**asked, "value": 200_000},
                              params={"format": "csv"})
    assert download.text == direct.text
    assert download.text.startswith("town_code,recipients,before_fen,after_fen,change_fen")
    assert f"\n{TOWN}," in download.text
    assert "authorization" not in {k.lower() for k in download.headers}

    in_english = running.browser(PROPOSER, lang="en").get("/policy/simulate", params=asked)
    assert in_english.status_code == 200 and "Newly eligible" in in_english.text
    assert '"before": "Before"' in in_english.text  # the charts' words, in the reader's language


def test_a_what_if_that_approval_refuses_comes_back_beside_its_field(running):
    officer = running.browser(PROPOSER)
    effective = first_of_next_month(clock.today()).isoformat()
    asked = {"name": STANDARD, "region_code": DISTRICT, "effective_from": effective,
             "value": "1105.505"}
    wrong = officer.get("/policy/simulate", params=asked)
    assert wrong.status_code == 422 and 'id="value-error"' in wrong.text
    assert 'value="1105.505"' in wrong.text and "simulation-data" not in wrong.text
    elsewhere = officer.get("/policy/simulate", params={**asked, "value": "1105",
                                                        "region_code": "370202"})
    assert elsewhere.status_code == 403 and 'id="region_code-error"' in elsewhere.text
    assert officer.get("/policy/simulate", params={**asked, "value": "1105",
                                                   "region_code": "370202",
                                                   "format": "csv"}).status_code == 403


def test_a_proposal_is_simulated_from_its_page(running):
    later = first_of_next_month(first_of_next_month(clock.today())).isoformat()
    made = running.api_call("POST", "/policy/proposals", {
        "name": STANDARD, "region_code": DISTRICT, "effective_from": later, "value": 150_000,
        "source": "慈政发〔2026〕77号（测算）", "reason": "测算用"}).json()
    proposal_id = made["proposal_id"]
    expected = running.api(f"/policy/proposals/{proposal_id}/simulation")

    approver = running.browser("a-cixi")  # reads along (policy.read): may simulate too
    shown = approver.get(f"/policy/proposals/{proposal_id}")
    assert f'href="/policy/proposals/{proposal_id}/simulation"' in shown.text
    assert zh("simulate") in shown.text
    page = approver.get(f"/policy/proposals/{proposal_id}/simulation")
    _shown_like_approval(page, expected)
    assert "1,500.00 元" in page.text and f'href="/policy/proposals/{proposal_id}"' in page.text
    assert "/policy/simulate?name=" + STANDARD in page.text  # try another value from here

    link = _csv_link(page)
    assert link == f"/policy/proposals/{proposal_id}/simulation?format=csv"
    download = approver.get(link)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert f'filename="simulation-{proposal_id}.csv"' in download.headers["content-disposition"]
    assert download.text == running.api_call(
        "GET", f"/policy/proposals/{proposal_id}/simulation", params={"format": "csv"}).text
    assert approver.get("/policy/proposals/no-such/simulation").status_code == 404


def test_a_clerk_may_not_simulate(running):
    clerk = running.browser("c-cixi-001")
    effective = first_of_next_month(clock.today()).isoformat()
    asked = {"name": STANDARD, "region_code": DISTRICT, "effective_from": effective,
             "value": "2000"}
    assert clerk.get("/policy/simulate").status_code == 403
    assert clerk.get("/policy/simulate", params=asked).status_code == 403
    csv_page = clerk.get("/policy/simulate", params={**asked, "format": "csv"})
    assert csv_page.status_code == 403 and "text/csv" not in csv_page.headers["content-type"]
    [proposal] = running.api("/policy/proposals?status=published")["proposals"][:1]
    for path in (f"/policy/proposals/{proposal['proposal_id']}/simulation",
                 f"/policy/proposals/{proposal['proposal_id']}/simulation?format=csv"):
        assert clerk.get(path).status_code == 403


def test_the_distribution_keeps_to_bars_a_person_can_read():
    bins = [{"from_fen": i * 20_000, "before": 0, "after": 0} for i in range(500)]
    bins[2]["before"], bins[3]["after"], bins[499]["after"] = 4, 5, 1
    shown = bars({"bin_fen": 20_000, "bins": bins})
    assert len(shown) <= 40 and shown[0]["from_fen"] == 40_000  # the empty start left out
    assert sum(b["before"] for b in shown) == 4 and sum(b["after"] for b in shown) == 6
    assert shown[-1]["to_fen"] == 500 * 20_000
    assert bars({"bin_fen": 20_000, "bins": []}) == []
    assert (signed_yuan(100_500), signed_yuan(-150), signed_yuan(0)) == (
        "+1,005.00", "-1.50", "0.00")
    assert yuan(-150) == "-1.50"  # not "-2.50", floor division's answer
