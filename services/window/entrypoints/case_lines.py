"""The case page's words in the reader's language: each timeline line, why an action is held
back, and an assessment's figures. The codes come from services/window/domain (timeline.py,
lines.py, figures.py, casework.py); the words from i18n_case.py."""

from __future__ import annotations

from dataclasses import dataclass

from services.window.domain.casework import Offer
from services.window.domain.figures import Figure, figure, yuan
from services.window.domain.lines import Said
from services.window.domain.timeline import Entry
from services.window.entrypoints.i18n import LABELS, T, label, translate
from services.window.entrypoints.web import local_time


@dataclass(frozen=True)
class Line:
    at: str  # ISO, shown by the page in China time
    text: str
    note: str | None  # typed by staff: shown quoted, apart from the system's words


@dataclass(frozen=True)
class ShownFigure:
    label: str
    value: str
    machine: str  # "household_income_fen: 60000", for whoever asks


def timeline(entries: list[Entry], lang: str) -> list[Line]:
    return [Line(e.at.isoformat(), _entry(e, lang), e.note) for e in entries]


def _t(key: str, lang: str, **blanks: str) -> str:
    """A wording with named blanks (i18n's ``translate`` fills numbered ones)."""
    zh, en = T.get(key, (key, key))
    return (en if lang == "en" else zh).format(**blanks)


def _entry(e: Entry, lang: str) -> str:
    text = said(e.said, lang)
    if e.action or e.actor:
        text += _t("tl_by", lang, action=move(e.action or "", lang), who=who(e.actor, lang))
    if e.note_on_file:
        text += _t("tl_note_on_file", lang)
    return text


def move(action: str, lang: str) -> str:
    """A move's action: a staff action's words, or those of a move approval makes itself."""
    return label("action" if action in LABELS["action"] else "move", action, lang)


def who(actor: str | None, lang: str) -> str:
    """"town_reviewer:t-017" as 镇街审核 t-017; approval itself as 系统."""
    role, _, staff = (actor or "").partition(":")
    if role in ("system", ""):
        return _t("tl_system", lang)
    return f"{label('role', role, lang)} {staff}".strip()


def _inner(s: Said, lang: str) -> str:
    inner = said(s.inner, lang) if s.inner else ""
    return _t("tl_explained", lang, text=inner) if inner else ""


def said(s: Said, lang: str) -> str:
    """One line, or the explanation within one, in ``lang``."""
    p = dict(s.params)
    if "failed" in p:  # approval's English reasons, after a colon, for the English reader
        p["failed"] = f": {p['failed']}" if p["failed"] else ""
    if s.kind == "text":
        return p.get("en" if lang == "en" else "zh", "")
    if s.kind == "stage":
        due = _t("tl_due", lang, due=p["due"]) if p.get("due") else ""
        return label("stage", p.get("stage", ""), lang) + due + _inner(s, lang)
    if s.kind == "assessed":
        return _t("tl_assessed", lang, text=said(s.inner, lang) if s.inner else "")
    if s.kind in ("eligible", "eligible_again"):
        return _t(f"tl_{s.kind}", lang, amounts=_amounts(p, lang))
    if s.kind == "work_income_rose":
        return _t("tl_work_income_rose", lang, before=yuan(int(p["before_fen"])),
                  after=yuan(int(p["after_fen"])), until=p["until"], months=p["months"],
                  failed=p["failed"])
    if s.kind == "by_staff":
        text = _t("tl_by_staff", lang, action=move(p["action"], lang),
                  role=label("role", p["role"], lang))
        return text + (_t("tl_note_on_file", lang) if p.get("note_on_file") else "")
    if s.kind == "decided":
        return _decided(p, lang)
    if s.kind == "benefit":
        monthly = _t("tl_benefit_monthly", lang, monthly=p["monthly"]) if p["monthly"] else ""
        return _t("tl_benefit", lang, change=label("benefit_change", p["change"], lang),
                  monthly=monthly, last=_t("tl_last", lang, last=p["last"]) if p["last"] else "",
                  **{"from": p["from"]}) + _inner(s, lang)
    if s.kind == "recognised":
        return _t("tl_recognised", lang, status=label("recognised", p["status"], lang),
                  members=p["members"], **{"from": p["from"]})
    if s.kind in ("referral_requested", "referral_answered"):
        return _t(f"tl_{s.kind}", lang, kind=label("referral_kind", p["kind"], lang),
                  outcome=label("referral_outcome", p.get("outcome", ""), lang),
                  amount=_t("tl_amount", lang, amount=p["amount"]) if p.get("amount") else "")
    if s.kind == "payment_scheduled":
        return _t(f"tl_payment_scheduled_{p['how']}", lang, amount=p["amount"],
                  period=p["period"], reissue=_t("tl_reissue", lang) if p["reissue"] else "")
    if s.kind == "payment_failed":
        return _t("tl_payment_failed", lang, amount=p["amount"], period=p["period"],
                  why=label("pay_failure", p["why"], lang))
    if s.kind == "payment_held":  # the reason is payment's English: the English reader's
        return _t("tl_payment_held", lang, amount=p["amount"], period=p["period"]) + \
            _inner(s, lang)
    return _t(f"tl_{s.kind}", lang, **p)  # received, verified, not_eligible, paid…


def _amounts(p: dict[str, str], lang: str) -> str:
    return ((_t("tl_monthly", lang, monthly=p["monthly"]) if p.get("monthly") else "")
            + (_t("tl_once", lang, once=p["once"]) if p.get("once") else ""))


def _decided(p: dict[str, str], lang: str) -> str:
    by = _t("tl_decided_by", lang, by=label("decider", p["by"], lang)) if p.get("by") else ""
    if p["outcome"] != "approved":
        return _t(f"tl_decided_{p['outcome']}", lang, failed=p.get("failed", ""), by=by)
    return _t("tl_decided_approved", lang, by=by, amounts=_amounts(p, lang),
              advance=_t("tl_advance", lang) if p.get("advance") else "",
              start=_t("tl_start", lang, start=p["start"]) if p.get("start") else "",
              justified=_t("tl_justified", lang) if p.get("justified") else "")


def held_back(offer: Offer, lang: str) -> str:
    """Why an action is not possible now, in the reader's language, and the day it opens."""
    key = f"why_{offer.code}"
    if key in T:
        reason = translate(key, lang)
    else:  # a refusal the window has no words for: approval's own, which are English
        reason = offer.reason if lang == "en" and offer.reason else translate("why_other", lang)
    if offer.opens_at:
        reason += ("; " if lang == "en" else "；") + translate(
            "opens_on", lang, local_time(offer.opens_at))
    return reason


def figures(values: dict[str, object], lang: str) -> list[ShownFigure]:
    """A rule's figures (its trace's inputs), each in its unit, its machine form kept."""
    return [one_figure(name, value, lang) for name, value in values.items()]


def one_figure(name: str, value: object, lang: str) -> ShownFigure:
    f: Figure = figure(name, value)
    words = LABELS["figure"].get(f.key)
    name = (words[1] if lang == "en" else words[0]) if words else f.name
    value = translate(f"unit_{f.unit}", lang, f.number) if f.unit else f.number
    return ShownFigure(name, value, f"{f.name}: {f.raw}")
