"""The one-line timeline entries the window reads: Chinese for the clerk and the household,
English for everyone else, and the figures that matter.

Only what the event says is used: these lines are built from the bus, never from intake's names.
The bus carries no text a person typed (issue 21): a line says a note is on file, and the window
shows the note itself from approval, to those entitled to the case.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import CHINA
from shared.events.catalogue import (
    ApplicationDecided,
    BenefitChanged,
    CaseAssessed,
    CaseStageChanged,
    DecisionReason,
    HouseholdRecognised,
    PaymentHeld,
    PaymentScheduled,
    PaymentSettled,
    ReassessmentRequested,
    ReferralAnswered,
    ReferralRequested,
    VerificationReported,
)

STAGES = {
    "awaiting_report": "待核对 awaiting the verification report",
    "awaiting_review": "待审核 awaiting the town's review",
    "returned": "退回补充材料 returned",
    "under_notice": "公示中 under public notice",
    "awaiting_approval": "待审批 awaiting approval",
    "approved": "批准 approved",
    "rejected": "不予批准 rejected",
    "advance_paid": "先行救助 advance paid before verification",
    "follow_up": "待跟进 staff follow-up",
    "exiting": "渐退 gradual exit",
    "suspended": "暂停 suspended",
    "terminated": "终止 terminated",
}
OUTCOMES = {"approved": "批准 approved", "rejected": "不予批准 rejected",
            "undecidable": "待人工处理 needs a decision by staff"}
BENEFIT_CHANGES = {
    "gradual_exit": "渐退 gradual exit",
    "suspended": "暂停发放 benefit suspended",
    "resumed": "恢复发放 benefit resumed",
    "terminated": "终止 benefit terminated",
    "amount_changed": "调整金额 amount changed",
}
RECOGNITIONS = {"dibao": "低保家庭 Dibao household", "tekun": "特困人员 extreme-hardship person",
                "marginal": "低保边缘家庭 marginal low-income household"}
REFERRALS = {"medical": "医疗救助 medical assistance", "education": "教育救助 education assistance",
             "housing": "住房救助 housing assistance",
             "employment": "就业救助 employment assistance"}
REFERRAL_OUTCOMES = {"granted": "granted", "declined": "declined", "in_progress": "in progress"}
ON_FILE = " (意见已存档 note on file)"


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}"


def _amounts(monthly_fen: int, one_off_fen: int) -> str:
    """ "405.00 yuan/month", "3,000.00 yuan once", both, or "" when the grant carries no money
    (a recognition)."""
    parts = []
    if monthly_fen:
        parts.append(f"{yuan(monthly_fen)} yuan/month")
    if one_off_fen:
        parts.append(f"{yuan(one_off_fen)} yuan once")
    return " + ".join(parts)


def _failed(reasons: list[DecisionReason]) -> str:
    return "; ".join(r.detail for r in reasons if not r.passed)


def received(member_count: int) -> str:
    return f"申请已受理 application received ({member_count} members)"


def verified(event: VerificationReported) -> str:
    return (f"核对完成 verified: per-capita income {yuan(event.per_capita_monthly_income_fen)}"
            f" yuan/month, {event.assets.real_estate_count} properties,"
            f" {event.assets.vehicle_count} vehicles")


def stage_changed(event: CaseStageChanged) -> str:
    summary = STAGES.get(event.to_stage, event.to_stage)
    if event.due_at is not None:
        summary += f" until {_local(event.due_at)}"
    if event.explanation:
        summary += f": {event.explanation}"
    if event.has_note:
        summary += ON_FILE
    return summary


def assessed(event: CaseAssessed) -> str:
    if event.eligible is None:
        summary = "预审 pre-assessment: needs a decision by staff"
        failed = _failed(event.reasons)
        return summary + (f": {failed}" if failed else "")
    if not event.eligible:
        return f"预审 pre-assessment: not eligible: {_failed(event.reasons)}"
    amounts = _amounts(event.monthly_amount_fen, event.one_off_amount_fen)
    return "预审 pre-assessment: eligible" + (f", {amounts}" if amounts else "")


def decided(event: ApplicationDecided) -> str:
    summary = OUTCOMES[event.outcome]
    if event.outcome == "approved":
        if event.advance:
            summary += " (先行救助 advance, verified afterwards)"
        amounts = _amounts(event.monthly_amount_fen, event.one_off_amount_fen)
        if amounts:
            summary += f": {amounts}"
        if event.monthly_amount_fen and event.start_month:
            summary += f" from {event.start_month}"
        if event.has_justification:
            summary += " (一事一议 one case, one discussion)"
    else:
        failed = _failed(event.reasons)
        if failed:
            summary += f": {failed}"
    if event.decided_by != "system":
        summary += f", decided by the {event.decided_by}"
    return summary


def benefit_changed(event: BenefitChanged) -> str:
    summary = f"{BENEFIT_CHANGES[event.change]} from {event.effective_month}"
    if event.change in ("gradual_exit", "resumed", "amount_changed"):
        summary += f": {yuan(event.monthly_amount_fen)} yuan/month"
    if event.end_month is not None:
        summary += f", last paid {event.end_month}"
    return f"{summary} ({event.reason})"


def recognised(event: HouseholdRecognised) -> str:
    return (f"认定 recognised as {RECOGNITIONS[event.status]} from {event.valid_from}"
            f" ({len(event.member_refs)} members)")


def reassessment_requested(event: ReassessmentRequested) -> str:
    return "复核 periodic review: a new verification report was requested"


def referral_requested(event: ReferralRequested) -> str:
    return f"转介 referred for {REFERRALS[event.kind]}"


def referral_answered(event: ReferralAnswered) -> str:
    summary = f"转介答复 {REFERRALS[event.kind]}: {REFERRAL_OUTCOMES[event.outcome]}"
    if event.amount_fen:
        summary += f", {yuan(event.amount_fen)} yuan"
    if event.has_note:
        summary += ON_FILE
    return summary


def payment_scheduled(event: PaymentScheduled) -> str:
    what = {"one_off": f"once, in {event.period}",
            "batch": f"subsidy, in {event.period}"}.get(event.kind, f"for {event.period}")
    again = " (重新发放 re-issued)" if event.reissue_of else ""
    return f"已安排发放 payment scheduled: {yuan(event.amount_fen)} yuan {what}{again}"


def payment_held(event: PaymentHeld) -> str:
    return (f"暂缓发放 payment held: {yuan(event.amount_fen)} yuan in {event.period}, "
            f"{event.reason}")


def payment_settled(event: PaymentSettled) -> str:
    if event.outcome == "paid":
        return f"已到账 paid: {yuan(event.amount_fen)} yuan for {event.period}"
    # The kind of refusal; the bank's words stay in payment, shown on the case page to staff
    # entitled to it. The town corrects the account, then re-issues.
    why = FAILURES.get(event.reason_code or "", FAILURES["other"])
    return (f"发放失败 payment failed: {yuan(event.amount_fen)} yuan for {event.period}, "
            f"{why}; 请镇街核对账户 the town corrects the account")


FAILURES = {"account_closed": "账户已销户 account closed",
            "no_such_account": "账号不存在 no such account",
            "name_mismatch": "户名不符 name does not match",
            "account_frozen": "账户冻结 account frozen",
            "other": "银行退回 refused by the bank"}
