"""Staff free text never goes on the bus (issue 21, personal data): what a reviewer, a clerk, an
approver or another department types — a note, an objection, a survey's findings, a
justification, a referral's answer — stays in approval, which serves it to those entitled to the
case and refuses it to everyone else. The events say only that there is some.

Approval's real app on a database its migrations made; the application and its report are handed
to its handlers as its consumer would; staff act through its HTTP API with signed tokens. Every
outbox row (what the relay would publish, and audit archive for years) is then searched for the
text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from deploy.tokens import DevTokens
from services.approval.adapters.tables import bus
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.domain.policy import load_policy
from shared.events import catalogue as ev
from shared.events.envelope import from_record
from shared.settings import load_settings
from tests.conftest import ROOT, migrated_engine
from tests.integration.test_approval_workflow import application, deliver, report

POLICY_PATHS = [DEFAULT_POLICY, ROOT / "tests" / "e2e" / "fast_notice.toml"]  # no notice wait
POLICY = load_policy(*POLICY_PATHS)
DISTRICT, TOWN, OTHER_TOWN = "330282", "330282001", "330282002"
# What people type at a window: an ID number read out, a phone number, a name, an address.
TYPED = {
    "return": "请补充工资条；联系人 手机 13912345678",
    "resume": "已补交，身份证 330282195803150024 复印件",
    "findings": "入户：独居，邻居王阿姨 电话 0574-63012345",
    "accept": "与报告一致，户主 张秀英",
    "object": "举报人 李强 13800138000：儿子每月寄钱",
    "resolve": "已核实 儿子失业，身份证 330282198001010019",
    "approve": "同意，慈溪市浒山街道南二环东路 88 号",
    "justification": "一事一议：火灾，会议纪要 2026-11-20，经办 13700001111",
    "referral": "门诊费用已报销，医保卡号 A123456789",
    "suspend": "外出务工，电话 15000000000",
}


@pytest.fixture
def approval(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine,
                                                                  DevTokens]]:
    settings = load_settings(env="test", data_dir=tmp_path, policy_paths=POLICY_PATHS,
                             approval_database_url=database_url)
    with migrated_engine(database_url, "approval") as engine:
        app = create_approval(settings)
        client = TestClient(app)  # no lifespan: no consumer, no relay — the outbox stays
        try:
            yield client, engine, DevTokens(settings)
        finally:
            client.close()
            app.state.runtime.engine.dispose()


def _act(client: TestClient, headers: dict[str, str], case_id: str, **body: Any) -> Any:
    answer = client.post(f"/cases/{case_id}/actions", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _published(engine: Engine) -> list[tuple[ev.Event, bytes]]:
    """Every event approval wrote to its outbox, decoded as a consumer would, with its bytes."""
    found = []
    with engine.connect() as conn:
        for row in conn.execute(select(bus.outbox)).mappings():
            headers = [(str(k), str(v).encode()) for k, v in json.loads(row["headers"])]
            value = bytes(row["value"])
            found.append((from_record(value, headers).data, value))
    return found


def _walk_a_case_with_typed_text(client: TestClient, engine: Engine, tokens: DevTokens) -> str:
    app = application("330282-typed", region=DISTRICT, town_code=TOWN, referrals=["medical"])
    deliver(engine, app, policy=POLICY)
    deliver(engine, report(app), policy=POLICY)
    case_id, reviewer = app.case_id, tokens.reviewer(TOWN)
    _act(client, reviewer, case_id, action="return", note=TYPED["return"])
    _act(client, tokens.clerk(TOWN), case_id, action="resume", note=TYPED["resume"])
    _act(client, reviewer, case_id, action="accept", note=TYPED["accept"],
         home_survey={"surveyed_on": "2026-11-20", "surveyors": "t-017, t-021",
                      "findings": TYPED["findings"]})
    objection = _act(client, tokens.clerk(TOWN), case_id, action="object", note=TYPED["object"])
    _act(client, reviewer, case_id, action="resolve_objection", upheld=False,
         objection_id=objection["objection_id"], note=TYPED["resolve"])
    done = _act(client, tokens.approver(DISTRICT), case_id, action="approve",
                note=TYPED["approve"], justification=TYPED["justification"])
    assert done["stage"] == "approved", done
    referral = client.get(f"/cases/{case_id}", headers=reviewer).json()["referrals"][0]
    answered = client.post(f"/referrals/{referral['referral_id']}/answer", headers=reviewer,
                           json={"outcome": "granted", "amount_fen": 150_000,
                                 "note": TYPED["referral"]})
    assert answered.status_code == 200, answered.text
    _act(client, tokens.approver(DISTRICT), case_id, action="suspend", note=TYPED["suspend"])
    return case_id


def _pieces(text: str) -> list[bytes]:
    """The text and each of its words, as JSON would write them (raw UTF-8, or escaped)."""
    words = [text, *(w for w in text.replace("：", " ").replace("，", " ").split() if len(w) >= 4)]
    out = []
    for w in words:
        out += [w.encode(), w.encode("unicode_escape"),
                json.dumps(w).strip('"').encode()]
    return out


def test_no_typed_text_is_in_any_event_approval_publishes(approval):
    client, engine, tokens = approval
    _walk_a_case_with_typed_text(client, engine, tokens)
    published = _published(engine)
    kinds = {type(e).__name__ for e, _ in published}
    assert {"CaseStageChanged", "ApplicationDecided", "BenefitChanged",
            "ReferralAnswered"} <= kinds, kinds
    for name, text in TYPED.items():
        for event, value in published:
            leaked = [p for p in _pieces(text) if p in value]
            assert not leaked, (name, type(event).__name__)
    # What the events say instead: that there is a note, and the workflow's own words.
    changes = [e for e, _ in published if isinstance(e, ev.CaseStageChanged)]
    by_action = {c.action: c for c in changes}
    assert all(by_action[a].has_note for a in (
        "return", "resume", "accept", "objection_recorded", "objection_dismissed", "approve",
        "suspend"))
    assert not by_action["submitted"].has_note
    assert by_action["pre_assessed"].explanation.startswith("eligible")
    [decided] = [e for e, _ in published if isinstance(e, ev.ApplicationDecided)]
    assert decided.has_justification
    [staff] = [r for r in decided.reasons if r.rule == ev.STAFF_DECISION]
    assert staff.detail == "district approved (note on file)"
    [answer] = [e for e, _ in published if isinstance(e, ev.ReferralAnswered)]
    assert answer.has_note and answer.outcome == "granted"
    [suspended] = [e for e, _ in published if isinstance(e, ev.BenefitChanged)]
    assert suspended.reason == "suspend by district_approver (note on file)"


def test_approval_serves_the_text_to_the_cases_staff_and_to_no_one_else(approval):
    client, engine, tokens = approval
    case_id = _walk_a_case_with_typed_text(client, engine, tokens)
    for entitled in (tokens.reviewer(TOWN), tokens.approver(DISTRICT), tokens.clerk(TOWN)):
        case = client.get(f"/cases/{case_id}", headers=entitled)
        assert case.status_code == 200, case.text
        body = case.json()
        notes = {h["action"]: h["note"] for h in body["history"]}
        assert notes["return"] == TYPED["return"] and notes["approve"] == TYPED["approve"]
        assert notes["objection_recorded"] == TYPED["object"]
        assert [s["findings"] for s in body["home_surveys"]] == [TYPED["findings"]]
        [objection] = body["objections"]
        assert (objection["summary"], objection["resolution"]) == (TYPED["object"],
                                                                  TYPED["resolve"])
        assert body["referrals"][0]["note"] == TYPED["referral"]
        assert (body["decision"]["note"], body["decision"]["justification"]) == (
            TYPED["approve"], TYPED["justification"])
        decision = client.get(f"/decisions/{case_id}", headers=entitled).json()
        assert decision["justification"] == TYPED["justification"]
    for stranger in (tokens.reviewer(OTHER_TOWN), tokens.approver("370202")):
        for path in (f"/cases/{case_id}", f"/decisions/{case_id}"):
            refused = client.get(path, headers=stranger)
            assert refused.status_code == 403, (path, refused.text)
            assert not any(p in refused.content for t in TYPED.values() for p in _pieces(t))
