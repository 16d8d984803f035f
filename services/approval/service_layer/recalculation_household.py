"""A recipient household recalculated for a published figure (issue 22 §3): what casework does
for one case, computed from what the batch read (``recalculation_batch``), without a query.

It answers the outcome and its explanation and, for a household whose benefit changes, the new
assessment (its row and its CaseAssessed) and the BenefitChanged — made as
``casework.run_assessment`` and ``casework.benefit_changed`` make them, with what cost most of a
household's time made once: each policy figure's statement once per batch, the facts parsed
once and serialised without ``dataclasses.asdict``, the previous assessment read without being
parsed.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import CaseFacts, yuan
from services.approval.domain.policy import Figure, PolicyTable
from services.approval.domain.reassessment import add_months, reassess
from services.approval.domain.stated import benefits
from services.approval.domain.trace import Check
from services.approval.domain.workflow import Rules
from services.approval.service_layer.casework import assessment_of
from shared.events import catalogue as ev


class Household(NamedTuple):
    """What the batch read for one household."""

    case_id: str
    programme: str
    region_code: str
    stage: str
    monthly_fen: int  # the running benefit
    facts: CaseFacts  # as ``casework.current_facts`` gives them
    previous: str | None  # the last CaseAssessed body; None: no assessment on record


class Changed(NamedTuple):
    """A benefit that changes: what to store and publish, and what becomes of the case."""

    assessment: dict[str, Any]  # the row for ``assessments``
    assessed: ev.CaseAssessed
    changed: ev.BenefitChanged
    monthly_fen: int | None  # the case's new running amount, when it has one
    to_stage: str | None  # a suspension or gradual exit moves the case
    reason: str  # the stage change's explanation


class Recalculated(NamedTuple):
    outcome: str  # amount_changed | suspended | gradual_exit | resumed | unchanged | undecided
    old_monthly_fen: int
    new_monthly_fen: int
    explanation: str
    changed: Changed | None


class Recalculator:
    """Recalculates households on ``effective`` (the figure's first day) by ``table``."""

    def __init__(self, table: PolicyTable, effective: date, now: datetime) -> None:
        self.table, self.effective, self.now = table, effective, now
        self.month = f"{effective:%Y-%m}"
        # Each figure's statement in the events, made once: they are immutable and the same for
        # every household. By identity (a Figure's hash is computed field by field, in Python),
        # each kept with its figure so that no id is reused while its entry is here.
        self._stated: dict[int, tuple[Figure, ev.PolicyParameter]] = {}

    def __call__(self, h: Household) -> Recalculated:
        old, effective = h.monthly_fen, self.effective
        previous = None if h.previous is None else StoredAssessment(h.previous)
        new = assess(h.facts, self.table, effective)
        moved = _moved(previous, new)
        if new.eligible is None:
            return Recalculated("undecided", old, old, "needs staff: " + "; ".join(
                c.detail for c in new.failed), None)
        if previous is None:
            return Recalculated("unchanged", old, old, "no assessment on record", None)
        change = reassess(h.stage, old, previous, new, 0, 0, add_months(self.month, -1),
                          Rules(self.table, h.region_code, effective))
        if change is None:
            return Recalculated("unchanged", old,
                                new.monthly_amount_fen if new.eligible else old, moved, None)
        kind = change.benefit_change or ""
        changed = ev.BenefitChanged(  # as casework.benefit_changed states each kind of change
            case_id=h.case_id, change=kind, programme=h.programme,
            beneficiary_ref=h.facts.applicant.person_ref,
            effective_month=change.effective_month, end_month=change.end_month,
            monthly_amount_fen=0 if kind in ("suspended", "terminated") else
            change.monthly_amount_fen, reason=f"policy change from {self.month}: {moved}",
            changed_at=self.now)
        row, assessed = self._assessed(h.facts, new)
        return Recalculated(
            kind or "changed", old, change.monthly_amount_fen, moved, Changed(
                row, assessed, changed,
                change.monthly_amount_fen if kind in ("amount_changed", "resumed") else None,
                change.to_stage, change.reason))

    def _assessed(self, facts: CaseFacts, result: Assessment
                  ) -> tuple[dict[str, Any], ev.CaseAssessed]:
        """``casework.run_assessment``'s row and event for an assessment on the effective day."""
        assessment_id, on, now = str(uuid.uuid4()), self.effective.isoformat(), self.now
        event = ev.CaseAssessed(
            case_id=facts.case_id, assessment_id=assessment_id, report_id=facts.report_id,
            eligible=result.eligible, programme=facts.programme,
            region_code=facts.region_code, monthly_amount_fen=result.monthly_amount_fen,
            one_off_amount_fen=result.one_off_amount_fen, benefits=benefits(result.benefits),
            policy_version=result.policy_version, reasons=self._reasons(result.checks),
            assessed_on=on, assessed_at=now)
        return {"assessment_id": assessment_id, "case_id": facts.case_id,
                "facts": json.dumps(_plain(facts), sort_keys=True), "assessed_on": on,
                "policy_digest": self.table.version, "body": event.model_dump_json(),
                "assessed_at": now}, event

    def _reasons(self, checks: tuple[Check, ...]) -> list[ev.DecisionReason]:
        """``stated.reasons``, each figure's statement made once."""
        return [ev.DecisionReason(
            rule=c.rule, passed=c.passed, detail=c.detail, figures=c.inputs,
            label_zh=c.label_zh, parameters=[self._parameter(f) for f in c.parameters])
            for c in checks]

    def _parameter(self, f: Figure) -> ev.PolicyParameter:
        known = self._stated.get(id(f))
        if known is not None and known[0] is f:
            return known[1]
        stated = ev.PolicyParameter(name=f.name, value=f.value, region=f.region,
                                    effective_from=f.effective_from.isoformat(),
                                    source=f.source, default=f.default)
        self._stated[id(f)] = (f, stated)
        return stated


# A figure as PolicyParameter writes it, and the event's own amount (the first field of that
# name: benefits and reasons come after it in CaseAssessed).
_PARAMETER = re.compile(r'\{"name":"([^"\\]*)","value":(-?\d+),')
_MONTHLY = re.compile(r'"monthly_amount_fen":(\d+)')


class StoredAssessment(Assessment):
    """A stored assessment (its CaseAssessed body), parsed only when something reads it.

    The previous assessment is read for the explanation, which needs only the figures it used
    and its amount: ``figures`` and ``monthly`` find them in the body without parsing it
    (parsing it was a quarter of a household's recalculation). ``reassessment.reassess`` takes it
    but decides by the new one. Any field read parses the whole body (``casework.assessment_of``),
    so to whatever reads it this is that assessment."""

    _body: str
    _whole: Assessment | None  # the body parsed, once something read a field

    def __init__(self, body: str) -> None:  # the dataclass's own would need it parsed
        object.__setattr__(self, "_body", body)
        object.__setattr__(self, "_whole", None)

    def _parsed(self) -> Assessment:
        whole = self._whole
        if whole is None:
            whole = assessment_of(self._body)
            object.__setattr__(self, "_whole", whole)
        return whole

    eligible = property(lambda self: self._parsed().eligible)
    benefits = property(lambda self: self._parsed().benefits)
    checks = property(lambda self: self._parsed().checks)
    policy_version = property(
        lambda self: self._parsed().policy_version)
    on = property(lambda self: self._parsed().on)

    def figures(self) -> dict[str, str]:
        """Each figure's value by name (as written: compared as text, converted only to be
        shown), the last use of a name winning, as ``{f.name: f for …}`` does."""
        return dict(_PARAMETER.findall(self._body))

    def monthly(self) -> int:
        found = _MONTHLY.search(self._body)
        assert found is not None, "a CaseAssessed body states its monthly amount"
        return int(found.group(1))


def _moved(previous: StoredAssessment | None, new: Assessment) -> str:
    """Which figures moved the amount, and from what to what: composed from the two traces."""
    before = {} if previous is None else previous.figures()
    parts, seen = [], set()
    for f in (f for c in new.checks for f in c.parameters):
        old = before.get(f.name)
        if f.name in seen or old is None or old == str(f.value):
            continue
        seen.add(f.name)
        parts.append(f"{f.name} {_shown(f.name, int(old))} → {_shown(f.name, f.value)}")
    amount = (f"{yuan(0 if previous is None else previous.monthly())} → "
              f"{yuan(new.monthly_amount_fen)} yuan/month" if new.eligible else "not eligible")
    return amount + ("; " + ", ".join(parts) if parts else "; no figure it uses moved")


def _shown(name: str, value: int) -> str:
    return f"{yuan(value)} yuan" if name.endswith("_fen") else str(value)


_FIELDS: dict[type, tuple[str, ...]] = {}
_LEAVES = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` for JSON (``CaseFacts.to_dict``): the same keys and values,
    without its deep copy and call per leaf (the facts hold only text, numbers, and tuples and
    dicts of them)."""
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(value):
        names = _FIELDS[kind] = tuple(f.name for f in fields(value))
    if names is not None:
        # A frozen dataclass's instance dict holds its fields and nothing else, unless
        # something cached a value there too: then field by field.
        held = vars(value)
        got = held.items() if len(held) == len(names) else (
            (name, getattr(value, name)) for name in names)
        return {k: v if type(v) in _LEAVES else _plain(v) for k, v in got}
    if isinstance(value, (tuple, list)):
        return [v if type(v) in _LEAVES else _plain(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _LEAVES else _plain(v) for k, v in value.items()}
    return value
