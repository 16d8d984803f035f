"""Warning and lead reasons as codes with figures (issue 26): each code's words in Chinese and in
English, as today's texts had them; the events carry the code and figures, never the words, and
refuse anything else in them; events archived with the words still decode and read."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.verification.domain.household import Household, HouseholdMember
from services.verification.domain.model import PartnerRecord, build_report
from services.verification.domain.monitoring import (
    Indicators,
    discovery_lead,
    household_signals,
    temporary_signal,
)
from shared.events import catalogue as ev
from shared.monitoring_reasons import (
    LEGACY,
    REASONS,
    problems,
    reader_language,
    render,
)

MEMBER = "p-fb8eb72b59b914eb4b5ef918738a286c"
SHOWN = "p-fb8eb72b59"  # the reference as a reason shows it
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "events"
AT = datetime(2026, 12, 7, 4, 34, tzinfo=UTC)

# Each code: its figures, and its words as the bilingual texts before issue 26 had them.
EXAMPLES: dict[str, tuple[dict[str, Any], str, str]] = {
    "medical_spending": (
        {"months": 12, "total_fen": 1_300_000, "yearly_income_fen": 1_200_000,
         "share_permille": 1083},
        "12 个月内大额医疗支出 ¥13,000.00，为家庭年收入 ¥12,000.00 的 108%",
        "large medical bills of ¥13,000.00 in 12 months, 108% of the household's yearly income "
        "¥12,000.00"),
    "income_loss": (
        {"member": MEMBER, "was_monthly_fen": 300_000, "now_monthly_fen": 0},
        f"成员 {SHOWN} 核对月收入由 ¥3,000.00 降至 ¥0.00",
        f"member {SHOWN}'s verified income fell from ¥3,000.00 to ¥0.00 a month"),
    "earner_death": (
        {"member": MEMBER, "died_on": "2026-12-07", "counted_monthly_fen": 60_000},
        f"成员 {SHOWN} 于 2026-12-07 登记死亡，其认定月收入 ¥600.00",
        f"member {SHOWN} recorded deceased on 2026-12-07; counted income ¥600.00 a month"),
    "member_death": (
        {"member": MEMBER, "died_on": "2026-11-01"},
        f"成员 {SHOWN} 于 2026-11-01 登记死亡",
        f"member {SHOWN} recorded deceased on 2026-11-01"),
    "repeated_temporary": (
        {"grants": 3, "months": 12},
        "12 个月内获临时救助 3 次",
        "3 temporary assistance grants in 12 months"),
    "medical_hardship_lead": (
        {"bills": 2, "total_fen": 2_400_000, "months": 12},
        "12 个月内大额医疗费用个人负担 2 笔，共 ¥24,000.00",
        "2 large medical bill(s) of ¥24,000.00 in 12 months, personal share"),
}


def test_every_code_has_an_example_here():
    assert set(EXAMPLES) == set(REASONS) - {LEGACY}


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_each_code_renders_in_both_languages_with_its_figures(code):
    params, zh, en = EXAMPLES[code]
    assert problems(code, params) == []
    assert render(code, params, "zh") == zh
    assert render(code, params, "en") == en


def test_a_household_without_income_has_no_share():
    params = {"months": 6, "total_fen": 500_000, "yearly_income_fen": 0}
    assert problems("medical_spending", params) == []
    assert render("medical_spending", params, "zh") == "6 个月内大额医疗支出 ¥5,000.00，家庭无收入"
    assert render("medical_spending", params, "en") == \
        "large medical bills of ¥5,000.00 in 6 months, a household without income"


def test_a_reason_stored_as_words_shows_the_readers_half_or_all_of_it():
    old = "成员 p-1 于 2026-12-07 登记死亡 | member p-1 recorded deceased on 2026-12-07"
    assert render(LEGACY, {}, "zh", old) == "成员 p-1 于 2026-12-07 登记死亡"
    assert render(LEGACY, {}, "en", old) == "member p-1 recorded deceased on 2026-12-07"
    one = "自付医疗费用超过家庭年收入的一半"  # words in one language only
    assert render(LEGACY, {}, "en", one) == one


@pytest.mark.parametrize(("params", "named"), [
    ({"grants": 3}, "reason_params.months: required"),
    ({"grants": 3, "months": 12, "note": 1}, "1 parameter(s) repeated_temporary does not have"),
    ({"grants": "3", "months": 12}, "reason_params.grants: not a whole number"),
    ({"grants": -1, "months": 12}, "reason_params.grants: not a whole number"),
    ({"grants": True, "months": 12}, "reason_params.grants: not a whole number"),
])
def test_figures_that_do_not_fit_their_code_are_named(params, named):
    found = problems("repeated_temporary", params)
    assert any(named in p for p in found), found


def test_a_date_or_a_member_must_be_one():
    assert problems("member_death", {"member": "王秀英", "died_on": "2026-02-30"}) == [
        "reason_params.member: not a person", "reason_params.died_on: not a date"]
    # Shown as its code rather than with words that are not the rule's.
    assert render("member_death", {"member": "王秀英", "died_on": "x"}, "zh") == "member_death"
    assert render("a_newer_code", {}, "en") == "a_newer_code"


@pytest.mark.parametrize(("header", "lang"), [
    (None, "zh"), ("", "zh"), ("en", "en"), ("en-US,en;q=0.9", "en"), ("zh-CN", "zh"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en;q=0.9,zh;q=0.5", "en"), ("zh;q=0.3,en;q=0.7", "en"),
    ("fr-FR,fr", "zh"), ("de,en;q=0.5", "en"), ("en;q=abc,zh", "zh"), ("*", "zh")])
def test_the_reader_gets_english_when_preferred_else_chinese(header, lang):
    assert reader_language(header) == lang


# --- the rules give codes and figures --------------------------------------------------------

IND = Indicators(window_months=12, medical_min_fen=500_000, medical_permille=(300, 600, 1000),
                 income_loss_permille=500, income_loss_tier=2, earner_death_tier=3,
                 member_death_tier=1, temporary_counts=(2, 3, 0), lead_medical_bill_fen=2_000_000)
ON = date(2026, 12, 3)
MOTHER, SON = "p-" + "a" * 32, "p-" + "b" * 32


def _record(rid: str, kind: str, who: str, amount: int = 0, as_of: date = ON,
            town: str | None = None) -> PartnerRecord:
    return PartnerRecord("x", rid, kind, who, amount, as_of, town_code=town)


def _signals() -> list[Any]:
    members = (HouseholdMember(MOTHER, 56, {"wage": 100_000}, True),
               HouseholdMember(SON, 25, {}, True))
    household = Household("c-1", "330282", "dibao", MOTHER, AT, members, "330282101")
    before = build_report(members, [_record("w", "wage", SON, 200_000)])
    records = [_record("d", "death", MOTHER), _record("m", "large_medical_bill", SON, 1_300_000)]
    after = build_report(members, records)
    return household_signals(household, records, before, after, ON, IND)


def test_the_rules_give_each_reason_as_a_code_and_its_figures():
    by_code = {s.reason_code: dict(s.reason_params) for s in _signals()}
    assert by_code["earner_death"] == {"member": MOTHER, "died_on": "2026-12-03",
                                       "counted_monthly_fen": 100_000}
    assert by_code["income_loss"] == {"member": SON, "was_monthly_fen": 200_000,
                                      "now_monthly_fen": 0}
    assert by_code["medical_spending"]["total_fen"] == 1_300_000
    temporary = temporary_signal("c-1", 3, IND)
    assert temporary is not None and (temporary.reason_code, dict(temporary.reason_params)) == (
        "repeated_temporary", {"grants": 3, "months": 12})
    lead = discovery_lead(SON, [_record("m1", "large_medical_bill", SON, 2_400_000,
                                        town="330282101")], ON, IND)
    assert lead is not None and (lead.reason_code, dict(lead.reason_params)) == (
        "medical_hardship_lead", {"bills": 1, "total_fen": 2_400_000, "months": 12})
    for code, params in [*by_code.items(), ("medical_hardship_lead", lead.reason_params)]:
        assert problems(code, params) == [], code


# --- the events -------------------------------------------------------------------------------

WORDS = re.compile(r"[\u4e00-\u9fff¥ ]")  # Chinese, an amount, a space between words


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def _warning(**change: Any) -> dict[str, Any]:
    return {"case_id": "330282-20261207-1065b27e8468", "warning_id": "w-1",
            "region_code": "330282", "town_code": "330282101", "indicator": "earner_death",
            "tier": "red", "cause": "death:public_security:d-1", "reason_code": "earner_death",
            "reason_params": EXAMPLES["earner_death"][0], "person_ref": MEMBER,
            "raised_at": AT.isoformat(), **change}


def test_the_events_carry_the_code_and_figures_and_no_words():
    for signal in _signals():
        event = ev.EarlyWarningRaised(
            case_id="c-1", warning_id="w-1", region_code="330282", town_code="330282101",
            indicator=signal.indicator, tier=signal.tier, cause=signal.cause,
            reason_code=signal.reason_code, reason_params=dict(signal.reason_params),
            person_ref=signal.person_ref, raised_at=AT)
        sent = json.loads(event.model_dump_json())
        assert sent["reason"] is None and sent["reason_code"] == signal.reason_code
        assert [t for t in _texts(sent) if WORDS.search(t)] == []
        assert ev.EarlyWarningRaised.model_validate(sent) == event
    lead = ev.DiscoveryLeadRaised(case_id="l-1", lead_id="l-1", person_ref=MEMBER,
                                  region_code="330282", town_code="330282101",
                                  kind="medical_hardship", reason_code="medical_hardship_lead",
                                  reason_params=EXAMPLES["medical_hardship_lead"][0],
                                  raised_at=AT)
    assert [t for t in _texts(lead.model_dump(mode="json")) if WORDS.search(t)] == []
    assert lead.reason is None


@pytest.mark.parametrize("change", [
    {"reason": "成员 p-fb8eb72b59 于 2026-12-07 登记死亡"},  # words beside a code
    {"reason_params": {**EXAMPLES["earner_death"][0], "member": "王秀英"}},
    {"reason_params": {**EXAMPLES["earner_death"][0], "note": 1}},
    {"reason_params": {**EXAMPLES["earner_death"][0], "counted_monthly_fen": 13912345678}},
    {"reason_params": {**EXAMPLES["earner_death"][0], "counted_monthly_fen": "60000"}},
    {"reason_params": {"member": MEMBER}},
    {"reason_code": "anything"},
    {"reason_code": LEGACY},  # the words' code, without words
])
def test_an_event_with_anything_else_in_its_reason_is_refused(change):
    with pytest.raises(ValidationError) as refused:
        ev.EarlyWarningRaised.model_validate(_warning(**change))
    # The refusal names what is wrong, never what it held.
    said = str(refused.value.errors(include_input=False, include_url=False))
    assert "王秀英" not in said and "13912345678" not in said


@pytest.mark.parametrize("name", ["onedoor.warning.raised.v1.before-issue-26.json",
                                  "onedoor.lead.raised.v1.before-issue-26.json"])
def test_an_event_archived_with_its_words_still_decodes_and_reads_in_either_language(name):
    record = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    model = ev.EarlyWarningRaised if "warning" in name else ev.DiscoveryLeadRaised
    old = model.model_validate(record["value"])
    assert (old.reason_code, old.reason_params) == (LEGACY, {})
    zh, _, en = record["value"]["reason"].partition(" | ")
    assert render(old.reason_code, old.reason_params, "zh", old.reason) == zh
    assert render(old.reason_code, old.reason_params, "en", old.reason) == en
    assert model.model_validate_json(old.model_dump_json()) == old  # and written again as read
