"""The events on ``onedoor.policy``, written by approval: each policy figure's new version, once
two policy officers have agreed on it.

Apart because these are not a case's events: every one is keyed by ``POLICY_KEY``, so that all
of them keep their order on one partition, and the audit's replay rebuilds each decision's policy
from them.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shared.events import topics
from shared.events.base import Event, register

# Every policy publication is keyed by this one pseudo-case id, so that all of them share a
# partition and are read in the order they were published.
POLICY_KEY = "policy"


@register
class PolicyPublished(Event):
    """A policy figure's new version, proposed by one policy officer and approved by another
    (four eyes), is published by approval: from ``effective_from`` it decides in its region.

    The source document and the reason are text an officer typed: approval keeps them
    (``GET /policy/history``). ``case_id`` is always ``POLICY_KEY``. An auditor's replay rebuilds
    each decision's policy from the packaged files and these events, in ``sequence`` order.
    """

    type = "onedoor.policy.published"
    version = 1
    topic = topics.POLICY

    proposal_id: str
    sequence: int = Field(ge=1)  # publication order, from 1, across every region
    name: str
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    effective_from: date
    value: int = Field(ge=0)
    replaces_value: int | None = None  # the figure in force on effective_from before this
    proposed_by: str  # staff ids ("policy_officer:p-002"), never names
    approved_by: str
    policy_version: str  # approval's policy digest once this is published
    published_at: datetime
