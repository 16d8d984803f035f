"""The events on ``onedoor.monitoring``, written by verification: early warnings (预警) on
watched households and discovery leads (主动发现) on persons who have not applied, their closing,
and every look-up of who a lead is.

Apart from the verification reports because they have other readers (the audit archive and the
window, no case workflow) and another key: a lead has no case yet, so its events are keyed by
the lead's own id. Reasons travel as codes (``shared/monitoring_reasons.py``), never as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, model_validator

from shared.events import topics
from shared.events.base import Event, register
from shared.monitoring_reasons import (
    LEGACY_DOC,
    PARAMS_DOC,
    ReasonCode,
    ReasonParams,
    check_reason,
    legacy_reason,
)

Tier = Literal["yellow", "orange", "red"]
WarningOutcome = Literal["assisted", "reassessed", "referred", "no_change", "unreachable"]
LeadOutcome = Literal["applied", "assisted_otherwise", "not_in_need", "declined", "unreachable"]
# What the department that owns a lead's record answered when asked who the lead is.
PersonLookupOutcome = Literal["resolved", "not_found", "department_unavailable"]


class _Reasoned(Event):
    """The validators of an event that says why with a reason code: an archived record's
    ``reason`` text read as it was written, and figures that fit the code. Validators only: a
    field declared here would come before the event's own and change the bytes it encodes to,
    which the archive and the golden records keep."""

    if TYPE_CHECKING:  # declared by each event, in its own place among its fields
        reason_code: ReasonCode
        reason_params: ReasonParams
        reason: str | None

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        return legacy_reason(data)

    @model_validator(mode="after")
    def _params_fit_the_code(self) -> Self:
        check_reason(self.reason_code, self.reason_params, self.reason)
        return self


@register
class EarlyWarningRaised(_Reasoned):
    """Partner data or repeated assistance signals hardship in a watched household (预警)."""

    type = "onedoor.warning.raised"
    version = 1
    topic = topics.MONITORING

    warning_id: str
    region_code: str
    town_code: str | None
    indicator: str  # verification's domain.monitoring.INDICATORS
    tier: Tier
    cause: str  # the fact that raised it; one warning per case and cause
    # Why, as a code and its figures (shared/monitoring_reasons.py renders them in the reader's
    # language); ``reason`` is the "中文 | English" text of warnings raised before issue 26,
    # read from the archive and never written again.
    reason_code: ReasonCode
    reason_params: ReasonParams = Field(default_factory=dict, description=PARAMS_DOC)
    reason: str | None = Field(default=None, description=LEGACY_DOC)
    person_ref: str | None
    raised_at: datetime


@register
class EarlyWarningClosed(Event):
    type = "onedoor.warning.closed"
    version = 1
    topic = topics.MONITORING

    warning_id: str
    outcome: WarningOutcome
    closed_by: str  # the staff id
    closed_at: datetime


@register
class DiscoveryLeadRaised(_Reasoned):
    """Someone who has not applied shows signs of hardship (主动发现). A lead has no case yet:
    ``case_id`` is the lead's own id, so its events keep their order on one partition."""

    type = "onedoor.lead.raised"
    version = 1
    topic = topics.MONITORING

    lead_id: str
    person_ref: str
    region_code: str
    town_code: str
    kind: str
    reason_code: ReasonCode  # as EarlyWarningRaised's
    reason_params: ReasonParams = Field(default_factory=dict, description=PARAMS_DOC)
    reason: str | None = Field(default=None, description=LEGACY_DOC)
    raised_at: datetime


@register
class DiscoveryLeadClosed(Event):
    type = "onedoor.lead.closed"
    version = 1
    topic = topics.MONITORING

    lead_id: str
    outcome: LeadOutcome
    application_case_id: str | None  # the application it led to, when it did
    closed_by: str
    closed_at: datetime


@register
class DiscoveryLeadPersonLookedUp(Event):
    """A case worker asked the department that owns a lead's record who the lead is (issue 26),
    whatever it answered. Ids and codes only: the reason the worker typed and the person the
    department named stay out of every event (the reason is kept in verification, for
    auditors; the person is shown to the worker once and kept nowhere)."""

    type = "onedoor.lead.person_looked_up"
    version = 1
    topic = topics.MONITORING

    lookup_id: str
    lead_id: str
    region_code: str
    town_code: str
    department: str  # the department asked: the owner of the lead's evidence
    outcome: PersonLookupOutcome
    looked_up_by: str  # the staff id
    role: Literal["town_reviewer", "district_approver"]
    looked_up_at: datetime
