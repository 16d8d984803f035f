"""The archive's event JSON read fast, for the replay's fold.

Building millions of models cost more than the rest of the fold, so events are read as parsed
JSON, or as only the few keys the fold needs; and of another share's decisions, most are
recognised by a byte search without being parsed at all. That search depends on the catalogue's
field order (pydantic writes fields in declaration order): a decision written otherwise is
parsed, never misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic_core import from_json as parse
from typing_extensions import TypedDict

from shared.events.base import Event

__all__ = ["may_grant", "parse", "read", "read_decision", "read_household"]

_T = TypeVar("_T")


def read(model: type[Event], value: bytes, take: Callable[[dict[str, Any]], _T]
         ) -> tuple[dict[str, Any], _T]:
    """An event's JSON form, and what ``take`` takes from it. Events are read as parsed JSON
    (building millions of models cost more than the rest of the fold); one archived before a
    field was added (``take`` meets a key missing) goes through its model, which fills in the
    defaults, in the same JSON form."""
    data = parse(value)
    try:
        return data, take(data)
    except KeyError:
        data = model.model_validate_json(value).model_dump(mode="json")
        return data, take(data)


class _Decision(TypedDict, total=False):
    """What the fold reads of a decision (``ApplicationDecided``): not its reasons and benefits,
    most of its bytes, which pydantic-core's parser then skips unbuilt (9 → 5 µs a decision)."""

    decision_id: str
    outcome: str
    programme: str
    monthly_amount_fen: int
    one_off_amount_fen: int
    start_month: str | None
    advance: bool
    decided_by: str
    decided_at: str
    member_refs: list[str]


read_decision = TypeAdapter(_Decision).validate_json


class _Member(TypedDict):
    person_ref: str


class _Household(TypedDict):
    """What the fold reads of another share's application: who, and for what."""

    programme: str
    members: list[_Member]


read_household = TypeAdapter(_Household).validate_json


def may_grant(decision: bytes) -> bool:
    """False only for a decision that cannot grant a one-off amount: without the word
    "approved" (JSON could only hide it in a \\u escape), or with no one-off amount as the
    catalogue writes it (right after ``decided_at``; the benefits' own amounts come later,
    each after a monthly amount). Most grant none, and parsing each cost more than the rest of
    another share's events; a decision written otherwise is parsed."""
    if b"approved" not in decision and b"\\u" not in decision:
        return False
    return _NO_ONE_OFF.search(decision) is None


_NO_ONE_OFF = re.compile(rb'"decided_at":"[^"]*","one_off_amount_fen":0,')
