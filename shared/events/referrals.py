"""The events on ``onedoor.referrals``: a case's request to another department for its own
assistance (专项救助), written by approval, and that department's answer.

Apart because other departments read and answer this topic, not OneDoor's services alone; the
answer's note stays in approval (``has_note``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.events import topics
from shared.events.base import Event, register
from shared.events.vocabulary import ReferralKind, without_typed_text


@register
class ReferralRequested(Event):
    """A case asks another department for its own assistance (专项救助)."""

    type = "onedoor.referral.requested"
    version = 1
    topic = topics.REFERRALS

    referral_id: str
    kind: ReferralKind
    region_code: str
    member_refs: list[str]
    requested_at: datetime


@register
class ReferralAnswered(Event):
    """The department a referral went to answered it."""

    type = "onedoor.referral.answered"
    version = 1
    topic = topics.REFERRALS

    referral_id: str
    kind: ReferralKind
    outcome: Literal["granted", "declined", "in_progress"]
    amount_fen: int = Field(default=0, ge=0)
    # The department wrote a note; approval keeps it with the referral (``GET /cases/{id}``).
    has_note: bool = False
    answered_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        data, noted = without_typed_text(data, "note")
        if noted:
            data["has_note"] = True
        return data
