"""The case page's timeline (issue 26): every line intake writes is read back into a code and
its figures by the window (so a new or changed shape fails here, not on the page), worded in
one language at a time; stage moves shown once, in order, with approval's actor and note."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.approval.domain.workflow import summary
from services.intake.service_layer import summaries
from services.window.domain.figures import figure
from services.window.domain.lines import STAGES, parse
from services.window.domain.timeline import build
from services.window.entrypoints.case_lines import said, timeline
from shared.events import catalogue as ev
from tests.unit.test_workflow import ELIGIBLE

AT = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
_CJK = re.compile(r"[\u3400-\u9fff\uff08-\uff1b]")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _c(model: type[Any], **fields: Any) -> Any:
    """An event as the summaries read it (only the fields they read)."""
    return model.model_construct(case_id="c1", **fields)


def _reason(passed: bool, detail: str) -> ev.DecisionReason:
    return ev.DecisionReason(rule="vehicles", passed=passed, label_zh="车辆", detail=detail)


def _stage(to: str, **more: Any) -> Any:
    return _c(ev.CaseStageChanged, **{"to_stage": to, "due_at": None, "explanation": None,
                                      "has_note": False, **more})


def every_line() -> list[tuple[str, str]]:
    """What intake writes for each kind of event, in each of its shapes."""
    failed = [_reason(False, "1 vehicles (at most 0)")]
    lines: list[tuple[str, Any]] = [
        ("application.submitted", summaries.received(3)),
        ("verification.reported", summaries.verified(_c(
            ev.VerificationReported, per_capita_monthly_income_fen=60_000,
            assets=ev.AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=0)))),
        *(("case.stage_changed", summaries.stage_changed(_stage(code))) for code in
          STAGES.values()),
        ("case.stage_changed", summaries.stage_changed(_stage(
            "awaiting_review", due_at=AT, explanation="eligible: 505.50 yuan/month"))),
        ("case.stage_changed", summaries.stage_changed(_stage("returned", has_note=True))),
        ("case.stage_changed", summaries.stage_changed(_stage(
            "awaiting_review", due_at=AT, explanation="emergency: may be paid in advance, "
                                                      "verified after"))),
        ("case.stage_changed", summaries.stage_changed(_stage(
            "follow_up", explanation="needs staff: no dibao policy in force"))),
        *(("case.assessed", summaries.assessed(_c(
            ev.CaseAssessed, eligible=eligible, reasons=failed, monthly_amount_fen=50_550,
            one_off_amount_fen=once))) for eligible, once in ((True, 0), (True, 300_000),
                                                               (False, 0), (None, 0))),
        *(("application.decided", summaries.decided(_c(
            ev.ApplicationDecided, outcome=outcome, advance=advance, reasons=failed,
            monthly_amount_fen=40_500 if outcome == "approved" else 0, one_off_amount_fen=once,
            start_month="2026-12", has_justification=justified, decided_by=by)))
          for outcome, advance, once, justified, by in (
              ("approved", False, 0, False, "district"), ("approved", True, 300_000, True,
                                                          "town"),
              ("rejected", False, 0, False, "town"), ("undecidable", False, 0, False,
                                                      "system"))),
        *(("benefit.changed", summaries.benefit_changed(_c(
            ev.BenefitChanged, change=change, effective_month="2027-03",
            monthly_amount_fen=20_000, end_month=end, reason=reason)))
          for change, end, reason in (
              ("gradual_exit", "2027-08", "income from work rose (0 → 400000 fen/month): "
                                          "benefit continues to 2027-08 (6 months), then ends; "
                                          "per-capita income above the standard"),
              ("suspended", None, "suspend by district_approver (note on file)"),
              ("resumed", None, "eligible again: gradual exit stopped; eligible: 500.00 "
                                "yuan/month"),
              ("terminated", None, "terminate by district_approver"),
              ("amount_changed", None, summary(ELIGIBLE)))),
        ("household.recognised", summaries.recognised(_c(
            ev.HouseholdRecognised, status="dibao", valid_from="2026-12",
            member_refs=["p-1", "p-2"]))),
        ("reassessment.requested", summaries.reassessment_requested(_c(
            ev.ReassessmentRequested))),
        ("referral.requested", summaries.referral_requested(_c(ev.ReferralRequested,
                                                               kind="medical"))),
        *(("referral.answered", summaries.referral_answered(_c(
            ev.ReferralAnswered, kind="housing", outcome=outcome, amount_fen=amount,
            has_note=noted))) for outcome, amount, noted in (("granted", 150_000, True),
                                                              ("in_progress", 0, False))),
        *(("payment.scheduled", summaries.payment_scheduled(_c(
            ev.PaymentScheduled, kind=kind, period="2026-12", amount_fen=81_000,
            reissue_of=again))) for kind, again in (("monthly", None), ("one_off", "p-0"),
                                                    ("batch", None))),
        ("payment.held", summaries.payment_held(_c(ev.PaymentHeld, amount_fen=81_000,
                                                   period="2026-12", reason="no account"))),
        ("payment.settled", summaries.payment_settled(_c(
            ev.PaymentSettled, outcome="paid", amount_fen=81_000, period="2026-12"))),
        *(("payment.settled", summaries.payment_settled(_c(
            ev.PaymentSettled, outcome="failed", amount_fen=81_000, period="2026-12",
            reason_code=code))) for code in summaries.FAILURES),
    ]
    return [(f"onedoor.{kind}", line) for kind, line in lines]


@pytest.mark.parametrize(("event_type", "line"), every_line())
def test_each_line_intake_writes_reads_back_into_one_language(event_type, line):
    read = parse(event_type, line)
    assert read.kind != "text", f"a shape the window does not know: {line}"
    assert read.inner is None or read.inner.kind != "text" or not read.inner.params["zh"], line
    chinese, english = said(read, "zh"), said(read, "en")
    assert not _WORD.search(chinese), (line, chinese)
    assert not _CJK.search(english), (line, english)
    for figure_in_line in re.findall(r"[0-9][0-9,]*\.[0-9]{2}", line):
        assert figure_in_line in english  # the English reader loses nothing


def test_a_line_of_unknown_shape_is_split_by_script_never_dropped():
    read = parse("onedoor.something.new", "新情况 something new (意见已存档 note on file)")
    assert (said(read, "zh"), said(read, "en")) == ("新情况，意见已存档",
                                                    "something new (note on file)")


def _line(event_type: str, summary_: str, minutes: float) -> dict[str, Any]:
    return {"at": (AT + timedelta(minutes=minutes)).isoformat(),
            "event_type": f"onedoor.{event_type}", "summary": summary_}


def _move(sequence: int, to: str, action: str, minutes: float, **more: Any) -> dict[str, Any]:
    return {"sequence": sequence, "to_stage": to, "action": action, "actor": "system:onedoor",
            "note": None, "explanation": None, "at": (AT + timedelta(minutes=minutes)
                                                      ).isoformat(), **more}


REPORTED_FIRST = [  # intake's timeline when verification answered before approval opened it
    _line("application.submitted", "申请已受理 application received (1 members)", 0),
    _line("verification.reported", "核对完成 verified: per-capita income 600.00 yuan/month, "
                                   "0 properties, 0 vehicles", 1),
    _line("case.stage_changed", "待核对 awaiting the verification report", 2),
    _line("case.assessed", "预审 pre-assessment: eligible, 505.50 yuan/month", 2.1),
    _line("case.stage_changed", "待审核 awaiting the town's review until 2026-12-11 23:59: "
                                "eligible: 505.50 yuan/month", 2.2),
    _line("case.stage_changed", "公示中 under public notice until 2026-11-27 09:40 "
                                "(意见已存档 note on file)", 10),
]
HISTORY = [_move(1, "awaiting_report", "submitted", 1.9),
           _move(2, "awaiting_review", "pre_assessed", 1.95,
                 explanation="eligible: 505.50 yuan/month"),
           _move(3, "under_notice", "accept", 9.9, actor="town_reviewer:t-017", note="属实")]


def test_each_move_is_shown_once_in_order_with_approvals_actor_and_note():
    shown = timeline(build(REPORTED_FIRST, HISTORY), "zh")
    assert [line.text for line in shown] == [
        "申请已受理（1 人）", "待核对（受理，系统）",
        "核对完成：家庭月人均收入 600.00 元，房产 0 处，车辆 0 辆",
        "预审：符合条件，每月 505.50 元",
        "待镇街审核，时限 2026-12-11 23:59：符合条件，每月 505.50 元（预审，系统）",
        "公示中，时限 2026-11-27 09:40（审核通过并公示，镇街审核 t-017）"]
    assert shown[-1].note == "属实"
    english = timeline(build(REPORTED_FIRST, HISTORY), "en")
    assert english[1].text == "Awaiting verification (received, system)"


def test_without_approval_intakes_lines_stand_alone_and_say_a_note_is_on_file():
    shown = timeline(build(REPORTED_FIRST, None), "en")
    assert [line.text.split(" ")[0] for line in shown] == [
        "Application", "Awaiting", "Verified:", "Pre-assessment:", "Awaiting", "Under"]
    assert shown[-1].text.endswith("(note on file)") and shown[-1].note is None


def test_moves_intake_has_not_recorded_yet_come_from_approval_in_their_place():
    ahead = [*HISTORY, _move(4, "awaiting_approval", "close_notice", 20,
                             actor="town_reviewer:t-017")]
    shown = timeline(build(REPORTED_FIRST[:3], ahead), "en")
    assert [line.text for line in shown[2:]] == [
        "Verified: per-capita income 600.00 yuan a month, 0 properties, 0 vehicles",
        "Awaiting town review: eligible, 505.50 yuan a month (pre-assessed, system)",
        "Under public notice (Accept and post notice, Town reviewer t-017)",
        "Awaiting approval (Close the notice, Town reviewer t-017)"]


@pytest.mark.parametrize(("name", "value", "unit", "number"), [
    ("household_income_fen", "60000", "yuan", "600.00"),
    ("dibao.monthly_standard_fen", 100_500, "yuan", "1,005.00"),
    ("dibao.addon_elderly_permille", 100, "permille", "100"),
    ("workflow.public_notice_days", 7, "days", "7"),
    ("dibao.deposit_limit_months", 24, "months", "24"),
    ("age_years", "72", "age", "72"),
    ("household_size", "3", "", "3"),
    ("members", "p-737aefd6… 600.00", "", "p-737aefd6… 600.00"),
])
def test_figures_are_read_in_their_unit_and_keep_their_machine_form(name, value, unit, number):
    f = figure(name, value)
    assert (f.unit, f.number, f.name, f.raw) == (unit, number, name, str(value))
