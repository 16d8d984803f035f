"""Intake's timeline lines read back into codes and figures, so that the window words each in
the reader's language alone.

Intake writes each line once, as "中文 English" with its figures, when the event reaches it
(services/intake/service_layer/summaries.py), and other readers take them as they are. Rather
than change that stored text and its API, the window reads the shape each line is written in:
a ``Said`` is a code naming the line's wording (i18n_case.py) and the figures for its blanks.
tests/unit/test_case_lines.py holds every shape intake writes to this reading, so a new or
changed one fails there rather than showing both languages here. A line of a shape not known
still shows, split by script: its Chinese words, or its English ones.

Explanations inside a line (approval's "eligible: 505.50 yuan/month", a benefit change's reason)
are read the same way. The reasons a rule failed are approval's English: they are kept for the
English reader, and the Chinese one is pointed to the assessment, which names each rule in
Chinese.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SUBMITTED = "onedoor.application.submitted"
STAGE_CHANGED = "onedoor.case.stage_changed"
_YUAN = r"(-?[0-9,]+\.[0-9]{2})"
_MONTH = r"([0-9]{4}-[0-9]{2})"
_NOTE = " (意见已存档 note on file)"
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")

# Intake's words for each code (summaries.py), as it writes them.
STAGES = {"待核对 awaiting the verification report": "awaiting_report",
          "待审核 awaiting the town's review": "awaiting_review",
          "退回补充材料 returned": "returned", "公示中 under public notice": "under_notice",
          "待审批 awaiting approval": "awaiting_approval", "批准 approved": "approved",
          "不予批准 rejected": "rejected",
          "先行救助 advance paid before verification": "advance_paid",
          "待跟进 staff follow-up": "follow_up", "渐退 gradual exit": "exiting",
          "暂停 suspended": "suspended", "终止 terminated": "terminated"}
_BENEFIT = {"渐退 gradual exit": "gradual_exit", "暂停发放 benefit suspended": "suspended",
            "恢复发放 benefit resumed": "resumed", "终止 benefit terminated": "terminated",
            "调整金额 amount changed": "amount_changed"}
_RECOGNISED = {"低保家庭 Dibao household": "dibao", "特困人员 extreme-hardship person": "tekun",
               "低保边缘家庭 marginal low-income household": "marginal"}
_REFERRAL = {"医疗救助 medical assistance": "medical", "教育救助 education assistance":
             "education", "住房救助 housing assistance": "housing",
             "就业救助 employment assistance": "employment"}
_FAILURE = {"账户已销户 account closed": "account_closed",
            "账号不存在 no such account": "no_such_account",
            "户名不符 name does not match": "name_mismatch",
            "账户冻结 account frozen": "account_frozen", "银行退回 refused by the bank": "other"}


@dataclass(frozen=True)
class Said:
    """A line as a code (``kind``, its wording's key) and the figures for its blanks; ``inner``
    is an explanation it carries, read the same way."""

    kind: str
    params: dict[str, str] = field(default_factory=dict)
    inner: Said | None = None


def _alternatives(words: dict[str, str]) -> str:
    return "(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _amounts(text: str) -> dict[str, str]:
    monthly = re.search(_YUAN + " yuan/month", text)
    once = re.search(_YUAN + " yuan once", text)
    return {k: m.group(1) for k, m in (("monthly", monthly), ("once", once)) if m}


def _noted(text: str) -> tuple[str, dict[str, str]]:
    if text.endswith(_NOTE):
        return text[: -len(_NOTE)], {"note_on_file": "1"}
    return text, {}


def by_script(text: str) -> Said:
    """A line of unknown shape: its Chinese words for one reader, the rest for the other."""
    zh = "，".join(_CJK.findall(text))
    en = re.sub(r"\(\s*\)", "", _CJK.sub("", text))
    en = re.sub(r"\(\s+", "(", re.sub(r"\s+([,.:;)])", r"\1", re.sub(r"\s{2,}", " ", en)))
    en = en.strip(" ,;:")
    return Said("text", {"zh": zh or en, "en": en or zh})


def explanation(text: object) -> Said | None:
    """Approval's explanation of a move or a benefit change (workflow.py's words)."""
    if not text:
        return None
    text = str(text)
    simple = {"emergency: may be paid in advance, verified after": "emergency"}
    if text in simple:
        return Said(simple[text])
    patterns: list[tuple[str, str]] = [
        (r"^eligible again: gradual exit stopped; (.*)$", "eligible_again"),
        (r"^eligible(?:: (.*))?$", "eligible"),
        (r"^not eligible: (.*)$", "not_eligible"),
        (r"^needs staff: (.*)$", "needs_staff"),
        (r"^no longer eligible, pending staff review: (.*)$", "no_longer_eligible")]
    for pattern, kind in patterns:
        if m := re.match(pattern, text):
            rest = m.group(1) or ""
            return Said(kind, {**_amounts(rest), "failed": rest})
    if m := re.match(r"^income from work rose \(([0-9]+) → ([0-9]+) fen/month\): benefit "
                     r"continues to " + _MONTH + r" \(([0-9]+) months\), then ends; (.*)$",
                     text):
        return Said("work_income_rose", {"before_fen": m.group(1), "after_fen": m.group(2),
                                         "until": m.group(3), "months": m.group(4),
                                         "failed": m.group(5)})
    if m := re.fullmatch(r"verification withheld: consent missing from ([0-9]+) member\(s\)",
                         text):  # approval's domain/consent.py
        return Said("consent_missing", {"members": m.group(1)})
    if m := re.match(r"^([a-z_]+) by ([a-z_]+)( \(note on file\))?$", text):
        return Said("by_staff", {"action": m.group(1), "role": m.group(2),
                                 **({"note_on_file": "1"} if m.group(3) else {})})
    return Said("text", {"zh": "", "en": text})  # approval's words: the English reader's


def parse(event_type: str, summary: str) -> Said:
    """One of intake's lines, as a code and its figures."""
    reader = _READERS.get(event_type.removeprefix("onedoor."))
    said = reader(summary) if reader else None
    return said or by_script(summary)


def _received(s: str) -> Said | None:
    m = re.fullmatch(r"申请已受理 application received \(([0-9]+) members\)", s)
    return Said("received", {"members": m.group(1)}) if m else None


def _verified(s: str) -> Said | None:
    m = re.fullmatch(r"核对完成 verified: per-capita income " + _YUAN + r" yuan/month, ([0-9]+) "
                     r"properties, ([0-9]+) vehicles", s)
    return Said("verified", {"per_capita": m.group(1), "properties": m.group(2),
                             "vehicles": m.group(3)}) if m else None


def _stage(s: str) -> Said | None:
    s, noted = _noted(s)
    head = next((w for w in sorted(STAGES, key=len, reverse=True) if s.startswith(w)), None)
    code = STAGES[head] if head else (re.match(r"[a-z_]+", s) or [None])[0]
    if code is None:
        return None
    m = re.fullmatch(r"(?: until ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}))?(?:: (.*))?",
                     s[len(head or code):])
    if m is None:
        return None
    return Said("stage", {"stage": code, **({"due": m.group(1)} if m.group(1) else {}),
                          **noted}, explanation(m.group(2)))


def _assessed(s: str) -> Said | None:
    m = re.fullmatch(r"预审 pre-assessment: (needs a decision by staff|not eligible|eligible)"
                     r"(?:[:,] (.*))?", s)
    if m is None:
        return None
    rest = m.group(2) or ""
    kind = {"eligible": "eligible"}.get(m.group(1), "not_eligible" if m.group(1) ==
                                        "not eligible" else "needs_staff")
    return Said("assessed", {}, Said(kind, {**_amounts(rest), "failed": rest}))


def _decided(s: str) -> Said | None:
    m = re.fullmatch(r"(批准 approved|不予批准 rejected|待人工处理 needs a decision by staff)(.*?)"
                     r"(?:, decided by the (town|district))?", s)
    if m is None:
        return None
    outcome = {"批": "approved", "不": "rejected", "待": "undecidable"}[m.group(1)[0]]
    rest, params = m.group(2), {"outcome": outcome, "by": m.group(3) or ""}
    if outcome == "approved":
        start = re.search(r" from " + _MONTH, rest)
        params.update(_amounts(rest), start=start.group(1) if start else "",
                      advance="1" if "(先行救助 advance, verified afterwards)" in rest else "",
                      justified="1" if "(一事一议 one case, one discussion)" in rest else "")
    else:
        params["failed"] = rest.removeprefix(": ")
    return Said("decided", params)


def _benefit(s: str) -> Said | None:
    m = re.fullmatch(_alternatives(_BENEFIT) + " from " + _MONTH + r"(?:: " + _YUAN +
                     r" yuan/month)?(?:, last paid " + _MONTH + r")? \((.*)\)", s)
    if m is None:
        return None
    return Said("benefit", {"change": _BENEFIT[m.group(1)], "from": m.group(2),
                            "monthly": m.group(3) or "", "last": m.group(4) or ""},
                explanation(m.group(5)))


def _recognised(s: str) -> Said | None:
    m = re.fullmatch(r"认定 recognised as " + _alternatives(_RECOGNISED) + " from " + _MONTH +
                     r" \(([0-9]+) members\)", s)
    return Said("recognised", {"status": _RECOGNISED[m.group(1)], "from": m.group(2),
                               "members": m.group(3)}) if m else None


def _review(s: str) -> Said | None:
    return Said("review_requested") if s.startswith("复核 periodic review") else None


def _referred(s: str) -> Said | None:
    m = re.fullmatch("转介 referred for " + _alternatives(_REFERRAL), s)
    return Said("referral_requested", {"kind": _REFERRAL[m.group(1)]}) if m else None


def _answered(s: str) -> Said | None:
    s, noted = _noted(s)
    m = re.fullmatch("转介答复 " + _alternatives(_REFERRAL) + r": (granted|declined|in progress)"
                     r"(?:, " + _YUAN + " yuan)?", s)
    return Said("referral_answered", {"kind": _REFERRAL[m.group(1)],
                                      "outcome": m.group(2).replace(" ", "_"),
                                      "amount": m.group(3) or "", **noted}) if m else None


def _scheduled(s: str) -> Said | None:
    m = re.fullmatch(r"已安排发放 payment scheduled: " + _YUAN + r" yuan (once|subsidy|for)"
                     r"(?:, in)? (\S+?)( \(重新发放 re-issued\))?", s)
    if m is None:
        return None
    how = {"once": "once", "subsidy": "subsidy", "for": "monthly"}[m.group(2)]
    return Said("payment_scheduled", {"amount": m.group(1), "how": how, "period": m.group(3),
                                      "reissue": "1" if m.group(4) else ""})


def _held(s: str) -> Said | None:
    m = re.fullmatch(r"暂缓发放 payment held: " + _YUAN + r" yuan in (\S+), (.*)", s)
    return Said("payment_held", {"amount": m.group(1), "period": m.group(2)},
                Said("text", {"zh": "", "en": m.group(3)})) if m else None


def _settled(s: str) -> Said | None:
    if m := re.fullmatch(r"已到账 paid: " + _YUAN + r" yuan for (\S+)", s):
        return Said("payment_paid", {"amount": m.group(1), "period": m.group(2)})
    m = re.fullmatch(r"发放失败 payment failed: " + _YUAN + r" yuan for (\S+), " +
                     _alternatives(_FAILURE) + r"; 请镇街核对账户 the town corrects the account", s)
    return Said("payment_failed", {"amount": m.group(1), "period": m.group(2),
                                   "why": _FAILURE[m.group(3)]}) if m else None


_READERS = {"application.submitted": _received, "verification.reported": _verified,
            "case.stage_changed": _stage, "case.assessed": _assessed,
            "application.decided": _decided, "benefit.changed": _benefit,
            "household.recognised": _recognised, "reassessment.requested": _review,
            "referral.requested": _referred, "referral.answered": _answered,
            "payment.scheduled": _scheduled, "payment.held": _held, "payment.settled": _settled}
