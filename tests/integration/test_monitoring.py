"""Dynamic monitoring and proactive discovery in verification, on real SQLite and PostgreSQL:
early warnings raised once per cause on watched households, leads for people who never applied,
both listed by jurisdiction and closed with an outcome, and every one of them an event."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.verification.adapters.tables import bus
from services.verification.bootstrap import DEFAULT_MONITORING, create_app
from services.verification.domain.monitoring import FIGURES
from services.verification.service_layer import partner_data as verification
from shared.clock import today
from shared.db import make_engine
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    DeclaredIncome,
    MemberFacts,
    TemporaryRequest,
)
from shared.events.topics import MONITORING
from shared.policy import parse_policies
from shared.pseudonym import person_ref
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration import test_partner_publications as publications
from tests.integration.test_partner_publications import NOW, Service, ndjson, rec
from tests.integration.test_verification_migration import migrate

service = publications.service  # the verification service on SQLite and PostgreSQL
TOWN, OTHER_TOWN = "330282101", "330282102"
MOTHER = resident_id("330282", today().replace(year=1970), 2)
SON = resident_id("330282", today().replace(year=2001), 1)
STRANGER = resident_id("330282", today().replace(year=1958), 3)
CASE, SECOND = "330282-20261122-000000000001", "330282-20261122-000000000002"
RECENT = (today() - timedelta(days=10)).isoformat()


def ref(service: Service, rid: str) -> str:
    return person_ref(service.key, rid)


def apply(service: Service, case_id: str = CASE, programme: str = "dibao",
          wage_fen: int = 0) -> None:
    service.handle(ApplicationSubmitted(
        case_id=case_id, region_code="330282", town_code=TOWN, programme=programme,
        submitted_at=NOW,
        temporary=TemporaryRequest(kind="emergency", requested_amount_fen=100_000,
                                   cause="illness") if programme == "temporary" else None,
        members=[MemberFacts(person_ref=ref(service, rid), relation=relation, age_years=age,
                             consent_signed=True,
                             declared_incomes=[DeclaredIncome(kind="wage",
                                                              monthly_amount_fen=wage_fen)]
                             if relation == "applicant" and wage_fen else [])
                 for rid, relation, age in ((MOTHER, "applicant", 56), (SON, "child", 25))]))


def approve(service: Service, case_id: str = CASE, programme: str = "dibao") -> None:
    service.handle(ApplicationDecided(
        case_id=case_id, decision_id=f"d-{case_id}", outcome="approved", programme=programme,
        region_code="330282", town_code=TOWN, beneficiary_ref=ref(service, MOTHER),
        household_size=2, monthly_amount_fen=81_000 if programme != "temporary" else 0,
        one_off_amount_fen=100_000 if programme == "temporary" else 0,
        start_month="2026-12", policy_version="v", reasons=[], decided_at=NOW))


def publish(service: Service, department: str, *lines: dict[str, Any]) -> dict[str, Any]:
    response = service.send(department, ndjson(*lines))
    assert response.status_code in (200, 201), response.text
    return response.json()


def events(service: Service, type_: str) -> list[dict[str, Any]]:
    """The events of one type in the outbox, in publication order."""
    with service.engine.connect() as conn:
        rows = conn.execute(select(bus.outbox.c.value, bus.outbox.c.headers)
                            .where(bus.outbox.c.topic == MONITORING)
                            .order_by(bus.outbox.c.id)).all()
    return [json.loads(value) for value, headers in rows
            if dict(json.loads(headers)).get("ce_type") == type_]


def warnings(service: Service, headers: dict[str, str], lang: str | None = None,
             **params: Any) -> list[dict[str, Any]]:
    """The list as the caller reads it: ``lang`` is its Accept-Language (none: the default)."""
    response = service.get("/warnings?" + "&".join(f"{k}={v}" for k, v in params.items()),
                           {**headers, **({"Accept-Language": lang} if lang else {})})
    assert response.status_code == 200, response.text
    return response.json()["warnings"]


def leads(service: Service, headers: dict[str, str], lang: str | None = None,
          **params: Any) -> list[dict[str, Any]]:
    response = service.get("/leads?" + "&".join(f"{k}={v}" for k, v in params.items()),
                           {**headers, **({"Accept-Language": lang} if lang else {})})
    assert response.status_code == 200, response.text
    return response.json()["leads"]


@pytest.fixture
def tokens(service: Service) -> DevTokens:
    return DevTokens(service.settings)


def test_death_of_an_earner_in_a_recipient_household_raises_one_red_warning(service, tokens):
    apply(service, wage_fen=150_000)
    approve(service)
    reports_before = len(service.reports())
    death = rec("d-1", "death", MOTHER)
    publish(service, "public_security", death)
    # The same fact again: another file (a second line makes its bytes differ) and the JSON route.
    publish(service, "public_security", death, rec("hr-1", "household_registration", SON))
    # The household looked at again for another change: the death is still there, and is the
    # same cause — no second warning (the unique cause, not the unchanged record, stops it).
    publish(service, "hr_social_security", rec("w-s", "wage", SON, 90_000))
    found = warnings(service, tokens.reviewer(TOWN))
    assert [(w["indicator"], w["tier"], w["case_id"]) for w in found] == [
        ("earner_death", "red", CASE)]
    # Why: a code and its figures, in words in the caller's language (Chinese by default).
    assert found[0]["reason_code"] == "earner_death"
    assert found[0]["reason_params"] == {"member": ref(service, MOTHER),
                                         "died_on": "2026-11-30", "counted_monthly_fen": 150_000}
    assert found[0]["reason"] == f"成员 {ref(service, MOTHER)[:12]} 于 2026-11-30 登记死亡，" \
        "其认定月收入 ¥1,500.00"
    (english,) = warnings(service, tokens.reviewer(TOWN), lang="en-GB,en;q=0.9,zh;q=0.5")
    assert english["reason"] == f"member {ref(service, MOTHER)[:12]} recorded deceased on " \
        "2026-11-30; counted income ¥1,500.00 a month"
    assert MOTHER not in json.dumps([*found, english], ensure_ascii=False)
    assert found[0]["person_ref"] == ref(service, MOTHER)
    (raised,) = events(service, "onedoor.warning.raised")
    # The event carries the code and the figures, never the words.
    assert (raised["reason_code"], raised["reason_params"], raised["reason"]) == (
        "earner_death", found[0]["reason_params"], None)
    # And approval reassesses: one new report for the death (not one per file), flagging the
    # member, and one for the son's new wage.
    assert len(service.reports()) == reports_before + 2
    latest = service.reports()[-2]
    assert latest.occasion == "partner_data"
    assert [(f.kind, f.person_ref, f.source) for f in latest.flags] == [
        ("deceased", ref(service, MOTHER), "public_security:death")]


def test_a_lost_wage_raises_an_income_loss_warning_and_a_new_report(service, tokens):
    apply(service)
    approve(service)
    publish(service, "hr_social_security", rec("w-1", "wage", SON, 300_000))
    assert warnings(service, tokens.reviewer(TOWN)) == []  # income rose: nothing to warn of
    publish(service, "hr_social_security", {"op": "delete", "record_id": "w-1"})
    publish(service, "hr_social_security", {"op": "delete", "record_id": "w-1"},
            rec("w-9", "wage", STRANGER, 1))  # the deletion seen again: nothing new
    found = warnings(service, tokens.reviewer(TOWN))
    assert [(w["indicator"], w["tier"]) for w in found] == [("income_loss", "orange")]
    assert found[0]["reason_params"] == {"member": ref(service, SON), "was_monthly_fen": 300_000,
                                         "now_monthly_fen": 0}
    assert "由 ¥3,000.00 降至 ¥0.00" in found[0]["reason"]
    (english,) = warnings(service, tokens.reviewer(TOWN), lang="en")
    assert "¥3,000.00 to ¥0.00" in english["reason"] and "降至" not in english["reason"]
    assert service.reports()[-1].occasion == "partner_data"
    assert service.reports()[-1].members[1].verified_monthly_fen == 0


def test_large_medical_bills_raise_a_warning_by_their_share_of_income_and_escalate(
        service, tokens):
    apply(service, wage_fen=100_000)  # ¥1,000 a month: ¥12,000 a year
    approve(service)
    bill = rec("m-1", "large_medical_bill", SON, 500_000, as_of=RECENT, town_code=TOWN)
    publish(service, "medical_insurance", bill)  # ¥5,000: 41% of the year's income → yellow
    publish(service, "medical_insurance", bill, rec("m-x", "large_medical_bill", STRANGER, 1,
                                                    as_of=RECENT, town_code=TOWN))
    assert [(w["indicator"], w["tier"]) for w in warnings(service, tokens.reviewer(TOWN))] == [
        ("medical_spending", "yellow")]
    # A second bill: ¥13,000 in all, more than a year's income → red, a new warning.
    publish(service, "medical_insurance",
            rec("m-2", "large_medical_bill", MOTHER, 800_000, as_of=RECENT, town_code=TOWN))
    assert [w["tier"] for w in warnings(service, tokens.reviewer(TOWN))] == ["red", "yellow"]


def test_an_old_bill_outside_the_window_raises_nothing(service, tokens):
    apply(service, wage_fen=10_000)
    approve(service)
    old = (today() - timedelta(days=500)).isoformat()
    publish(service, "medical_insurance",
            rec("m-1", "large_medical_bill", SON, 5_000_000, as_of=old, town_code=TOWN))
    assert warnings(service, tokens.reviewer(TOWN)) == []


def test_repeated_temporary_assistance_is_warned_of_once_per_grant(service, tokens):
    apply(service, CASE, "temporary")
    approve(service, CASE, "temporary")
    assert warnings(service, tokens.reviewer(TOWN)) == []  # one grant: nothing
    apply(service, SECOND, "temporary")
    approve(service, SECOND, "temporary")
    approve(service, SECOND, "temporary")  # the decision delivered twice
    found = warnings(service, tokens.reviewer(TOWN))
    assert [(w["indicator"], w["tier"], w["case_id"]) for w in found] == [
        ("repeated_temporary", "yellow", SECOND)]
    # A household granted temporary assistance is watched: a death in it is warned of too,
    # once, on its latest grant's case only.
    publish(service, "public_security", rec("d-1", "death", SON))
    assert sorted((w["indicator"], w["case_id"])
                  for w in warnings(service, tokens.reviewer(TOWN))) == [
        ("member_death", SECOND), ("repeated_temporary", SECOND)]


def test_warnings_are_listed_and_closed_within_jurisdiction_only(service, tokens):
    apply(service, wage_fen=150_000)
    approve(service)
    publish(service, "public_security", rec("d-1", "death", MOTHER))
    assert warnings(service, tokens.reviewer(OTHER_TOWN)) == []
    assert len(warnings(service, tokens.approver("330282"))) == 1
    assert len(warnings(service, tokens.clerk(TOWN))) == 1
    assert warnings(service, tokens.approver("330281")) == []
    (warning,) = warnings(service, tokens.auditor())
    url = f"/warnings/{warning['warning_id']}/close"
    assert service.post(url, {"outcome": "reassessed"}, tokens.clerk(TOWN)).status_code == 403
    assert service.post(url, {"outcome": "reassessed"},
                        tokens.reviewer(OTHER_TOWN)).status_code == 403
    bad = service.post(url, {"outcome": "forgotten"}, tokens.reviewer(TOWN))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "outcome"]
    done = service.post(url, {"outcome": "reassessed", "note": "visited; benefit recalculated"},
                        tokens.reviewer(TOWN))
    assert done.status_code == 200, done.text
    assert done.json()["closed"]["outcome"] == "reassessed"
    assert done.json()["reason"] == warning["reason"]  # the closed warning, read as listed
    assert done.json()["closed"]["closed_by"] == "demo-town-" + TOWN  # from the token
    again = service.post(url, {"outcome": "no_change"}, tokens.reviewer(TOWN))
    assert again.status_code == 409
    assert warnings(service, tokens.reviewer(TOWN)) == []  # open ones only, by default
    assert [w["closed"]["outcome"] for w in warnings(service, tokens.reviewer(TOWN),
                                                     open="false")] == ["reassessed"]
    assert service.post("/warnings/nope/close", {"outcome": "no_change"},
                        tokens.reviewer(TOWN)).status_code == 404
    closed = events(service, "onedoor.warning.closed")
    assert [(e["warning_id"], e["outcome"]) for e in closed] == [
        (warning["warning_id"], "reassessed")]


def test_large_bills_of_someone_who_never_applied_become_a_lead_for_their_town(service, tokens):
    small = rec("m-1", "large_medical_bill", STRANGER, 900_000, as_of=RECENT, town_code=TOWN)
    publish(service, "medical_insurance", small)
    assert leads(service, tokens.reviewer(TOWN)) == []  # ¥9,000: under the threshold
    more = rec("m-2", "large_medical_bill", STRANGER, 1_500_000, as_of=RECENT, town_code=TOWN)
    publish(service, "medical_insurance", small, more)
    publish(service, "medical_insurance", more, small)  # the same bills again
    (lead,) = leads(service, tokens.reviewer(TOWN))
    assert lead["person_ref"] == ref(service, STRANGER) and lead["town_code"] == TOWN
    assert sorted(e["record_id"] for e in lead["evidence"]) == ["m-1", "m-2"]
    assert (lead["reason_code"], lead["reason_params"]) == (
        "medical_hardship_lead", {"bills": 2, "total_fen": 2_400_000, "months": 12})
    assert lead["reason"] == "12 个月内大额医疗费用个人负担 2 笔，共 ¥24,000.00"
    (english,) = leads(service, tokens.reviewer(TOWN), lang="en")
    assert english["reason"] == "2 large medical bill(s) of ¥24,000.00 in 12 months, personal share"
    assert STRANGER not in json.dumps(lead)
    assert leads(service, tokens.reviewer(OTHER_TOWN)) == []
    (raised,) = events(service, "onedoor.lead.raised")
    assert (raised["reason_code"], raised["reason_params"], raised["reason"]) == (
        "medical_hardship_lead", lead["reason_params"], None)


def test_no_lead_for_a_household_member_and_none_without_a_town(service, tokens):
    apply(service)
    publish(service, "medical_insurance",
            rec("m-1", "large_medical_bill", SON, 5_000_000, as_of=RECENT, town_code=TOWN))
    assert leads(service, tokens.reviewer(TOWN)) == []
    report = publish(service, "medical_insurance",
                     rec("m-2", "large_medical_bill", STRANGER, 5_000_000, as_of=RECENT))
    assert report["rejected"] == 1
    assert report["rejections"][0]["reason"].startswith("town_code: required")


def test_a_lead_closes_itself_when_its_person_applies_and_otherwise_by_hand(service, tokens):
    publish(service, "medical_insurance",
            rec("m-1", "large_medical_bill", MOTHER, 3_000_000, as_of=RECENT, town_code=TOWN),
            rec("m-2", "large_medical_bill", STRANGER, 3_000_000, as_of=RECENT,
                town_code=TOWN))
    assert len(leads(service, tokens.reviewer(TOWN))) == 2
    apply(service)  # the mother applies
    (left,) = leads(service, tokens.reviewer(TOWN))
    assert left["person_ref"] == ref(service, STRANGER)
    applied = [x for x in leads(service, tokens.reviewer(TOWN), open="false")
               if x["person_ref"] == ref(service, MOTHER)]
    assert applied[0]["closed"]["outcome"] == "applied" and applied[0]["case_id"] == CASE
    url = f"/leads/{left['lead_id']}/close"
    missing = service.post(url, {"outcome": "applied"}, tokens.reviewer(TOWN))
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == [
        "body", "case_id"]
    done = service.post(url, {"outcome": "declined", "note": "family helps"},
                        tokens.reviewer(TOWN))
    assert done.status_code == 200 and done.json()["closed"]["outcome"] == "declined"
    assert [e["outcome"] for e in events(service, "onedoor.lead.closed")] == [
        "applied", "declined"]


def test_indicators_are_policy_a_region_can_turn_one_off(service, tokens):
    own = parse_policies([(_packaged().read_text(encoding="utf-8"), "packaged"), ("""
[[figure]]
name = "monitoring.earner_death_tier"
region = "330282"
effective_from = 2020-01-01
value = 0
source = "test: this district follows deaths another way"
""", "district")], FIGURES)
    apply(service, wage_fen=150_000)
    approve(service)
    with service.app.state.runtime.uow() as uow:
        verification.publish_records(
            "public_security", [verification.IncomingRecord(
                record_id="d-1", kind="death", resident_id=MOTHER, amount_fen=0,
                as_of=today())], uow, pseudonym_key=service.key, monitoring=own)
    assert warnings(service, tokens.reviewer(TOWN)) == []


def _packaged() -> Path:
    return DEFAULT_MONITORING / "monitoring.toml"


OLD_WARNING = ("成员 p-fb8eb72b59 于 2026-11-30 登记死亡 | "
               "member p-fb8eb72b59 recorded deceased on 2026-11-30")
OLD_LEAD = "12 个月内大额医疗费用个人负担 1 笔，共 ¥50,000.00 | 1 large medical bill(s) of " \
    "¥50,000.00 in 12 months, personal share"


def test_warnings_and_leads_raised_before_reason_codes_keep_their_words(database_url, tmp_path):
    """Rows stored as "中文 | English" (before revision 0010) read as legacy_text, the reader's
    half of their words; undone, the revision leaves newer rows their code and figures."""
    migrate(database_url, "0009")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO early_warnings (warning_id, case_id, region_code, town_code, "
                "indicator, cause, tier, reason, person_ref, raised_at) VALUES ('w-old', :case, "
                "'330282', :town, 'member_death', 'death:x:1', 'yellow', :reason, 'p-1', :at)"),
                {"case": CASE, "town": TOWN, "reason": OLD_WARNING, "at": NOW})
            conn.execute(text(
                "INSERT INTO discovery_leads (lead_id, person_ref, region_code, town_code, kind, "
                "cause, reason, evidence, raised_at) VALUES ('l-old', 'p-2', '330282', :town, "
                "'medical_hardship', 'medical:1', :reason, '[]', :at)"),
                {"town": TOWN, "reason": OLD_LEAD, "at": NOW})
    finally:
        engine.dispose()
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url)
    with migrated_engine(database_url, "verification") as engine:  # 0010 and any later
        app = create_app(settings)
        try:
            old = Service(app, engine, settings)
            reviewer = DevTokens(settings).reviewer(TOWN)
            for lang, half in ((None, 0), ("en", 1)):
                (warning,) = warnings(old, reviewer, lang)
                (lead,) = leads(old, reviewer, lang)
                assert (warning["reason_code"], warning["reason_params"]) == ("legacy_text", {})
                assert warning["reason"] == OLD_WARNING.split(" | ")[half]
                assert (lead["reason_code"], lead["reason_params"]) == ("legacy_text", {})
                assert lead["reason"] == OLD_LEAD.split(" | ")[half]
            with engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO early_warnings (warning_id, case_id, region_code, town_code, "
                    "indicator, cause, tier, reason_code, reason_params, raised_at) VALUES "
                    "('w-new', :case, '330282', :town, 'repeated_temporary', 'temporary:x', "
                    "'yellow', 'repeated_temporary', :params, :at)"),
                    {"case": SECOND, "town": TOWN, "params": '{"grants": 2, "months": 12}',
                     "at": NOW})
            shown = {w["warning_id"]: w["reason"] for w in warnings(old, reviewer, "en")}
            assert shown == {"w-old": "member p-fb8eb72b59 recorded deceased on 2026-11-30",
                             "w-new": "2 temporary assistance grants in 12 months"}
        finally:
            app.state.runtime.engine.dispose()
    migrate(database_url, "0009", down=True)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            kept = dict(conn.execute(text("SELECT warning_id, reason FROM early_warnings")).all())
    finally:
        engine.dispose()
    assert kept == {"w-old": OLD_WARNING,
                    "w-new": 'repeated_temporary {"grants": 2, "months": 12}'}
    migrate(database_url, "head")
