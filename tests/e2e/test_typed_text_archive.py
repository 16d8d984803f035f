"""End to end (issue 21, personal data): what staff type on a case — the survey's findings, an
objection, its resolution, the approver's note, a justification, a department's answer to a
referral — is on no topic and in no record of audit's permanent archive; approval still shows it
to the case's own staff, and to no one else. The log files' side is tests/e2e/ elsewhere."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from deploy.staff import CLERK, DISTRICT, TOWN
from shared.events import topics
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, payments, submit, tokens
from tests.e2e.test_workflow import approval_case
from tests.integration.busutil import read_topic

pytestmark = pytest.mark.e2e

HOUSE_TOWN, OTHER_TOWN = "330282001", "330282002"
# As people write them: a phone number, an ID number read out, a name, a card number.
TYPED = {
    "findings": "独居；女儿 手机 13912345678 每月探望",
    "accept": "户主 张秀英 与报告一致",
    "object": "举报人 电话 0574-63012345：有出租收入",
    "resolve": "经核实无租约，身份证 330282195803150024 本人确认",
    "approve": "同意，慈溪市浒山街道南二环东路 88 号",
    "justification": "一事一议：经办 13700001111，会议纪要 2026-11-20",
    "referral": "门诊费用已报销，医保卡号 A123456789",
}
WORDS = ("13912345678", "张秀英", "0574-63012345", "330282195803150024", "南二环东路",
         "13700001111", "A123456789")


def _act(system: Any, case_id: str, role: str, **body: Any) -> dict[str, Any]:
    headers = {TOWN: tokens(system).reviewer, CLERK: tokens(system).clerk,
               DISTRICT: tokens(system).approver}[role](HOUSE_TOWN if role != DISTRICT
                                                        else case_id[:6])
    answer = httpx.post(f"{system.url('approval')}/cases/{case_id}/actions", headers=headers,
                        json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _leaks(data: bytes) -> list[str]:
    """Which of the typed words are in these bytes, written raw or JSON-escaped."""
    return [w for w in WORDS if w.encode() in data
            or json.dumps(w).strip('"').encode() in data]


def _archived(system: Any, case_id: str) -> list[dict[str, Any]]:
    found = []
    for topic in (topics.DECISIONS, topics.REFERRALS):
        for partition in range(3):
            answer = httpx.get(f"{system.url('audit')}/records", headers=tokens(system).auditor(),
                               params={"topic": topic, "partition": partition, "limit": 1000},
                               timeout=30)
            assert answer.status_code == 200, answer.text
            found += [r for r in answer.json() if r["key"] == case_id]
    return found


def test_typed_text_is_on_no_topic_and_in_no_archived_record(system):
    household = HOUSEHOLDS[20]  # elderly pensioner living alone: approved
    case_id = submit(system, household.__class__(
        label=household.label, expect=household.expect, members=household.members,
        extra={"referrals": ["medical"], "town_code": HOUSE_TOWN}))
    approval_case(system, case_id, "awaiting_review")
    _act(system, case_id, TOWN, action="accept", note=TYPED["accept"], home_survey={
        "surveyed_on": "2026-11-20", "surveyors": "t-017, t-021", "findings": TYPED["findings"]})
    objection = _act(system, case_id, CLERK, action="object", note=TYPED["object"])
    _act(system, case_id, TOWN, action="resolve_objection", upheld=False,
         objection_id=objection["objection_id"], note=TYPED["resolve"])
    assert _act(system, case_id, DISTRICT, action="approve", note=TYPED["approve"],
                justification=TYPED["justification"])["stage"] == "approved"
    reviewer = tokens(system).reviewer(HOUSE_TOWN)
    case = approval_case(system, case_id, "approved")
    answered = httpx.post(
        f"{system.url('approval')}/referrals/{case['referrals'][0]['referral_id']}/answer",
        json={"outcome": "granted", "amount_fen": 150_000, "note": TYPED["referral"]},
        headers=reviewer, timeout=10)
    assert answered.status_code == 200, answered.text
    wait_until(lambda: payments(system, case_id), timeout_s=60, what="payment scheduled")

    # Every event of the case on the topics approval writes: none holds a typed word.
    def on_topic(topic: str, want: int) -> list[Any]:
        return asyncio.run(read_topic(system.bootstrap, topic,
                                      lambda r: r.key == case_id.encode(), want=want,
                                      timeout_s=5))
    published = on_topic(topics.DECISIONS, 12) + on_topic(topics.REFERRALS, 2)
    types = {dict(r.headers)["ce_type"].decode() for r in published}
    assert {"onedoor.case.stage_changed", "onedoor.application.decided",
            "onedoor.referral.answered"} <= types, types
    assert [_leaks(r.value) for r in published if _leaks(r.value)] == []

    # The permanent archive, once it holds them all.
    wanted = {dict(r.headers)["ce_id"].decode() for r in published}
    found: list[dict[str, Any]] = []

    def archived_all() -> bool:
        found[:] = _archived(system, case_id)
        return wanted <= {r["event_id"] for r in found}

    wait_until(archived_all, timeout_s=60, interval_s=0.5, what="the archive holding the case")
    assert [r["event_type"] for r in found if _leaks(json.dumps(r, ensure_ascii=False).encode())
            ] == []
    # Intake's timeline, which the window shows, says a note is on file.
    timeline = httpx.get(f"{system.url('intake')}/applications/{case_id}",
                         headers=tokens(system).service(), timeout=10).json()["timeline"]
    assert not _leaks(json.dumps(timeline, ensure_ascii=False).encode())
    assert any("note on file" in e["summary"] for e in timeline)

    # Approval shows it all to the case's own staff ...
    shown = httpx.get(f"{system.url('approval')}/cases/{case_id}", headers=reviewer,
                      timeout=10)
    assert shown.status_code == 200
    text = json.dumps(shown.json(), ensure_ascii=False)
    assert all(t in text for t in TYPED.values()), [k for k, t in TYPED.items() if t not in text]
    # ... and nothing to another town's.
    refused = httpx.get(f"{system.url('approval')}/cases/{case_id}",
                        headers=tokens(system).reviewer(OTHER_TOWN), timeout=10)
    assert refused.status_code == 403 and not _leaks(refused.content)
