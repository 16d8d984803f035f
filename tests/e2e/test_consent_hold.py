"""End to end through the running system (embedded broker, SQLite): a case verification may not
check for want of a member's consent (授权核对, issue 26) comes back to the town's window with
the reason and who must sign, runs no time limit meanwhile (it never goes overdue), and goes
back to verification once the town records the consent at the window.

Intake refuses an application whose adult member has not signed (a 422 at the window), so the
first test publishes the application as an intake that did not check consent would: on the
applications topic, as intake writes it. The second is the case met in practice: a periodic
review of a household whose child may have come of age since the application. Verification keeps
the application's day and the ages on it (never birth dates), and the running system has no
clock to turn: the test moves the household's application day a year back in verification's
database, as a year passing would leave it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.households import TOWNS, Household, resident_id
from deploy.staff import Staff
from deploy.supervisor import System
from services.window.domain.casework import offers
from services.window.service_layer.demo import DEMO_PASSWORD
from shared import clock
from shared.events import catalogue as ev
from shared.events.envelope import Envelope, to_record
from tests.conftest import wait_until
from tests.e2e.conftest import payments, submit, tokens
from tests.integration.busutil import produce

pytestmark = pytest.mark.e2e
DISTRICT, TOWN = "330282", TOWNS[0]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def approval_case(system: System, case_id: str, until: Any, what: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def reached() -> bool:
        answer = httpx.get(f"{system.url('approval')}/cases/{case_id}",
                           headers=tokens(system).service(), timeout=10)
        found.clear()
        found.update(answer.json() if answer.status_code == 200 else {})
        return bool(found) and bool(until(found))

    wait_until(reached, timeout_s=60, interval_s=0.3, what=f"{case_id}: {what}")
    return found


def window(system: System, account: str) -> httpx.Client:
    """A member of staff signed in to the window, with cookies of their own."""
    http = httpx.Client(base_url=system.url("window"), follow_redirects=False, timeout=30)
    form = http.get("/sign-in")
    done = http.post("/sign-in", data={"account": account, "password": DEMO_PASSWORD,
                                       "csrf_token": _CSRF.search(form.text).group(1)})
    assert done.status_code == 303, done.text[:500]
    return http


def record_consent(http: httpx.Client, case_id: str) -> None:
    token = _CSRF.search(http.get("/").text)  # the session's form token, on every page
    assert token, "no form token on the home page"
    done = http.post(f"/cases/{case_id}/consent", data={
        "csrf_token": token.group(1), "signed_on": clock.today().isoformat()})
    assert done.status_code == 303, done.text[:2000]


def overdue(system: System, case_id: str) -> bool:
    listed = httpx.get(f"{system.url('approval')}/cases", params={"overdue": "true",
                                                                 "limit": "1000"},
                       headers=tokens(system).reviewer(TOWN), timeout=10).json()["cases"]
    return case_id in {c["case_id"] for c in listed}


def publish_unsigned(system: System) -> tuple[str, str]:
    """A mother and her son of 30 who has not signed, published as an intake that did not
    check consent would: (case id, the son's reference)."""
    case_id = f"{DISTRICT}-{clock.today():%Y%m%d}-{uuid.uuid4().hex[:12]}"
    mother, son = f"p-{uuid.uuid4().hex}", f"p-{uuid.uuid4().hex}"
    application = ev.ApplicationSubmitted(
        case_id=case_id, region_code=DISTRICT, town_code=TOWN, programme="dibao",
        submitted_at=datetime.now(UTC), members=[
            ev.MemberFacts(person_ref=mother, relation="applicant", age_years=62,
                           declared_incomes=[ev.DeclaredIncome(kind="pension",
                                                               monthly_amount_fen=60_000)],
                           consent_signed=True),
            ev.MemberFacts(person_ref=son, relation="child", age_years=30,
                           declared_incomes=[], consent_signed=False)])
    record = to_record(Envelope(data=application, source="/onedoor/intake"))
    asyncio.run(produce(system.bootstrap, [(record.topic, record.key, record.value,
                                            record.headers)]))
    return case_id, son


def test_an_application_without_an_adults_consent_comes_back_to_the_window(system):
    case_id, son = publish_unsigned(system)
    case = approval_case(system, case_id, lambda c: c["stage"] == "returned",
                         "back at the town's window")
    hold = case["verification_hold"]
    assert (hold["reason"], hold["occasion"]) == ("consent_missing", "application")
    assert hold["members"] == [{"person_ref": son, "position": 2, "relation": "child"}]
    assert case["due_at"] is None and case["overdue"] is False  # no time limit runs
    assert not overdue(system, case_id)
    assert [h["explanation"] for h in case["history"] if h["action"] == "consent_missing"] == [
        "verification withheld: consent missing from 1 member(s)"]
    report = httpx.get(f"{system.url('verification')}/reports/{case_id}",
                       headers=tokens(system).service(), timeout=10)
    assert report.status_code == 404  # no partner data was looked at

    # The town's window: the case in the clerk's queue, and the consent recorded there.
    clerk = window(system, "c-cixi-001")
    home = clerk.get("/").text
    queue = home[home.index('id="q-consent_missing"'):]
    assert case_id in queue[:queue.index("</section>")]
    record_consent(clerk, case_id)
    case = approval_case(system, case_id, lambda c: c["stage"] == "awaiting_review",
                         "verified after the consent")
    assert case["verification_hold"] is None and case["assessment"]["report_id"]
    assert [h["action"] for h in case["history"]] == [
        "submitted", "consent_missing", "consent_recorded", "pre_assessed"]


def test_a_review_waits_for_a_child_come_of_age_to_sign_and_the_window_names_them(system):
    today = clock.today()
    born = date(today.year - 17, today.month, 1) - timedelta(days=30)  # 17 today
    household = Household(label="mother and a son of 17", expect="approved", members=[
        {"name": "孙秀英", "resident_id": resident_id(DISTRICT, date(1966, 4, 4), 882),
         "relation": "applicant", "consent_signed_on": today.isoformat(),
         "declared_incomes": [{"kind": "pension", "monthly_amount_fen": 60_000}]},
        {"name": "孙浩然", "resident_id": resident_id(DISTRICT, born, 883), "relation": "child",
         "declared_incomes": []}], town_code=TOWN)
    case_id = submit(system, household)
    staff = Staff(system.url("approval"), tokens(system))
    try:
        assert staff.work([case_id], until={"approved", "rejected"})[case_id] == "approved"
    finally:
        staff.close()
    # A year on: verification keeps the application's day, and moves it back.
    verification_db = system.settings.database_url("verification").removeprefix("sqlite:///")
    with sqlite3.connect(verification_db, timeout=30) as db:
        moved = db.execute("UPDATE households SET submitted_at = ? WHERE case_id = ?",
                           ((datetime.now(UTC) - timedelta(days=400)).strftime(
                               "%Y-%m-%d %H:%M:%S.%f"), case_id)).rowcount
    assert moved == 1
    asked = httpx.post(f"{system.url('approval')}/cases/{case_id}/periodic-review",
                       headers=tokens(system).reviewer(TOWN), timeout=10)
    assert asked.status_code == 202, asked.text

    case = approval_case(system, case_id, lambda c: c.get("verification_hold"),
                         "the review held for a consent")
    assert case["stage"] == "approved" and case["verification_hold"]["occasion"] == \
        "periodic_review"
    assert not overdue(system, case_id)
    reviewer = window(system, "r-cixi-001")
    page = reviewer.get(f"/cases/{case_id}").text
    hold = page[page.index('id="verification-hold"'):]
    assert "定期复核暂停" in hold[:hold.index("</section>")]
    assert "成员 2：孙浩然（子女）" in hold[:hold.index("</section>")]
    record_consent(reviewer, case_id)

    def reported() -> bool:
        answer = httpx.get(f"{system.url('verification')}/reports/{case_id}",
                           headers=tokens(system).service(), timeout=10)
        return answer.status_code == 200 and answer.json()["occasion"] == "periodic_review"

    wait_until(reported, timeout_s=60, interval_s=0.3, what="the review's report")
    assert approval_case(system, case_id, lambda c: c["verification_hold"] is None,
                         "no longer held")["stage"] == "approved"


def test_a_household_that_never_signs_is_closed_not_approved_at_the_window(system):
    """The town's reviewer closes the returned case on its page: a decision not to approve with
    the ground consent_not_given; the hold ends, nothing is paid, nothing is checked."""
    case_id, _ = publish_unsigned(system)
    approval_case(system, case_id, lambda c: c["stage"] == "returned", "back at the window")
    # The case page draws its forms from approval's allowed actions for the reader (intake never
    # had this application, so the page itself is not shown: what it would offer is).
    held = httpx.get(f"{system.url('approval')}/cases/{case_id}",
                     headers=tokens(system).reviewer(TOWN), timeout=10).json()
    assert {o.action for o in offers(held["allowed_actions"]) if o.possible} >= {
        "withdraw", "close_without_consent"}
    reviewer = window(system, "r-cixi-001")
    token = _CSRF.search(reviewer.get("/").text)  # the session's form token, on every page
    assert token, "no form token on the home page"
    done = reviewer.post(f"/cases/{case_id}/actions/close_without_consent",
                         data={"csrf_token": token.group(1), "note": "家属电话告知不愿签字"})
    assert done.status_code == 303, done.text[:2000]

    case = approval_case(system, case_id, lambda c: c["stage"] == "rejected", "closed")
    assert case["verification_hold"] is None
    assert case["decision"]["outcome"] == "rejected"
    assert [h["action"] for h in case["history"]] == [
        "submitted", "consent_missing", "close_without_consent"]
    decision = httpx.get(f"{system.url('approval')}/decisions/{case_id}",
                         headers=tokens(system).service(), timeout=10).json()
    assert "consent_not_given" in {r["rule"] for r in decision["reasons"]}
    assert payments(system, case_id) == []
    report = httpx.get(f"{system.url('verification')}/reports/{case_id}",
                       headers=tokens(system).service(), timeout=10)
    assert report.status_code == 404  # never checked
