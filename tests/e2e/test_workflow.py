"""End to end through the running system: application → review → notice → approval → payment,
the emergency advance, referrals, and refusals over HTTP."""

from __future__ import annotations

import httpx
import pytest

from deploy.demo import load_partner_data, run_demo
from deploy.households import TOWNS, make_emergency, make_households
from deploy.staff import CLERK, DISTRICT, SURVEY, TOWN
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, payments, submit, tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module",
                params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def system(request):  # type: ignore[no-untyped-def]
    """Every test here on the embedded broker and SQLite, and on Apache Kafka (3 nodes) and
    PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_system")


def approval_case(system, case_id: str, stage: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    url = f"{system.url('approval')}/cases/{case_id}"
    found: dict = {}  # type: ignore[type-arg]

    def reached() -> bool:
        response = httpx.get(url, headers=tokens(system).service(), timeout=10)
        found.update(response.json() if response.status_code == 200 else {})
        return found.get("stage") == stage

    wait_until(reached, timeout_s=60, interval_s=0.2, what=f"{case_id} {stage}")
    return found


def as_staff(system, role: str, case_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Someone of the case's own district in ``role`` (case ids start with the district)."""
    district, issued = case_id[:6], tokens(system)
    return {TOWN: issued.reviewer, CLERK: issued.clerk, DISTRICT: issued.approver}[role](district)


def act(system, case_id: str, action: str, role: str, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{system.url('approval')}/cases/{case_id}/actions",
                      json={"action": action, **body}, headers=as_staff(system, role, case_id),
                      timeout=10)


def intake_case(system, case_id: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return httpx.get(f"{system.url('intake')}/applications/{case_id}",
                     headers=tokens(system).service(), timeout=10).json()


def test_review_notice_objection_approval_payment(system):
    household = HOUSEHOLDS[20]  # elderly pensioner living alone
    case_id = submit(system, household)
    case = approval_case(system, case_id, "awaiting_review")
    assert case["assessment"]["eligible"] is True
    assert case["due_at"] and not case["overdue"]  # town review has its time limit

    # Acting out of turn changes nothing: 409, and a missing survey is a 422 naming it.
    assert act(system, case_id, "approve", DISTRICT).status_code == 409
    missing = act(system, case_id, "accept", TOWN)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == [
        "body", "home_survey"]
    accepted = act(system, case_id, "accept", TOWN,
                   home_survey={**SURVEY, "surveyed_on": "2026-11-20"})
    assert accepted.json()["stage"] == "under_notice", accepted.text
    objection = act(system, case_id, "object", CLERK,
                    note="a neighbour reports rental income")
    assert act(system, case_id, "approve", DISTRICT).status_code == 409  # objection open
    assert act(system, case_id, "resolve_objection", TOWN, upheld=False,
               objection_id=objection.json()["objection_id"],
               note="no rental contract on record").status_code == 200
    approved = act(system, case_id, "approve", DISTRICT, note="as assessed")
    assert approved.status_code == 200, approved.text
    assert approved.json()["stage"] == "approved", approved.text

    wait_until(lambda: payments(system, case_id), timeout_s=60, what="payment scheduled")
    [paid] = payments(system, case_id)
    decision = httpx.get(f"{system.url('approval')}/decisions/{case_id}",
                         headers=tokens(system).service(), timeout=10).json()
    assert paid["amount_fen"] == decision["monthly_amount_fen"] > 0
    wait_until(lambda: intake_case(system, case_id)["status"] == "payment_scheduled",
               timeout_s=60, what="intake shows the payment")
    summaries = [e["summary"] for e in intake_case(system, case_id)["timeline"]]
    for expected in ("公示", "批准", "发放"):
        assert any(expected in s for s in summaries), (expected, summaries)
    # The stored assessment replays identically.
    replay = httpx.get(f"{system.url('approval')}/assessments/"
                       f"{case['assessment']['assessment_id']}/replay",
                       headers=tokens(system).auditor(), timeout=10).json()
    assert replay["identical"], replay


def test_emergency_is_paid_first_and_verified_after(system):
    household = make_emergency(seed=20261122)
    case_id = submit(system, household)
    approval_case(system, case_id, "awaiting_review")
    advanced = act(system, case_id, "advance", TOWN, note="house fire")
    assert advanced.status_code == 200, advanced.text
    wait_until(lambda: payments(system, case_id), timeout_s=60, what="advance paid")
    [paid] = payments(system, case_id)
    assert paid["amount_fen"] == 200_000 and paid.get("kind", "one_off") == "one_off"
    # Verification arrives afterwards; the household passes, so the case closes as approved.
    approval_case(system, case_id, "approved")


def test_a_referral_goes_out_and_its_answer_comes_back(system):
    household = HOUSEHOLDS[21]
    case_id = submit(system, household.__class__(
        label=household.label, expect=household.expect, members=household.members,
        extra={"referrals": ["medical"]}))
    case = approval_case(system, case_id, "awaiting_review")
    [referral] = case["referrals"]
    assert referral["kind"] == "medical" and referral["status"] == "requested"
    answer = httpx.post(f"{system.url('approval')}/referrals/{referral['referral_id']}/answer",
                        json={"outcome": "granted", "amount_fen": 150_000,
                              "note": "outpatient costs covered"},
                        headers=as_staff(system, TOWN, case_id), timeout=10)
    assert answer.status_code == 200, answer.text
    wait_until(lambda: any("granted" in e["summary"] or "医疗" in e["summary"]
                           for e in intake_case(system, case_id)["timeline"]
                           if "referral" in e["event_type"] and "answered" in e["event_type"]),
               timeout_s=60, what="intake shows the referral's answer")


def test_overdue_cases_are_listed(system):
    listed = httpx.get(f"{system.url('approval')}/cases", params={"overdue": "true"},
                       headers=tokens(system).service(), timeout=10)
    assert listed.status_code == 200
    assert all(c["overdue"] for c in listed.json()["cases"])
    waiting = httpx.get(f"{system.url('approval')}/cases",
                        params={"stage": "awaiting_review", "region": "330282"},
                        headers=tokens(system).approver("330282"), timeout=10)
    assert all(c["stage"] == "awaiting_review" and c["due_at"] for c in waiting.json()["cases"])


def test_staff_see_and_act_only_within_their_jurisdiction(system):
    """A district's lists hold its own cases only, and another district's staff are refused
    (403) on a case they can name."""
    case_id = submit(system, HOUSEHOLDS[22])
    approval_case(system, case_id, "awaiting_review")
    district = case_id[:6]
    elsewhere = "110101" if district != "110101" else "310101"
    issued = tokens(system)
    url = system.url("approval")
    own = httpx.get(f"{url}/cases", headers=issued.approver(district), timeout=10).json()
    other = httpx.get(f"{url}/cases", headers=issued.approver(elsewhere), timeout=10).json()
    assert case_id in {c["case_id"] for c in own["cases"]}
    assert all(c["region_code"] == district for c in own["cases"])
    assert case_id not in {c["case_id"] for c in other["cases"]}
    for path in (f"/cases/{case_id}", f"/decisions/{case_id}"):
        assert httpx.get(url + path, headers=issued.reviewer(elsewhere),
                         timeout=10).status_code == 403
    refused = httpx.post(f"{url}/cases/{case_id}/actions", json={"action": "reject",
                         "note": "not mine"}, headers=issued.reviewer(elsewhere), timeout=10)
    assert refused.status_code == 403
    assert approval_case(system, case_id, "awaiting_review")["stage"] == "awaiting_review"
    for service, path in (("intake", f"/applications/{case_id}"),
                          ("verification", f"/reports/{case_id}")):
        assert httpx.get(system.url(service) + path, headers=issued.clerk(elsewhere),
                         timeout=10).status_code == 403
        assert httpx.get(system.url(service) + path, timeout=10).status_code == 401


def test_the_demo_tells_the_whole_story_to_the_money_in_the_account(system, capsys):
    """`make demo`'s path, as the quick start promises it: the demo towns' cases are reviewed,
    pass the (here 0-day) notice, are approved, paid in this month's cycle through a bank file,
    and shown paid; the emergency advance too."""
    households = make_households(10, seed=2612)
    load_partner_data(system.url("verification"), households)
    emergency = make_emergency(2613)
    load_partner_data(system.url("verification"), [emergency])
    summary = run_demo(system.url("intake"), system.url("approval"), households, tokens(system),
                       emergency, timeout_s=90, payment_url=system.url("payment"))
    approved = sum(h.expect == "approved" for h in households)
    assert summary == (f"10 submitted: {approved} approved and paid, 0 approved and scheduled, "
                       f"0 under public notice, {10 - approved} rejected with reasons; "
                       "1 emergency advance paid; 0 lost")
    printed = capsys.readouterr().out
    assert {h.town_code for h in households} == set(TOWNS)  # where the demo staff can see them
    assert printed.count("paid into the bank account") == approved + 1
