"""Cases verification may not check yet (``verification_holds``): why, and who must sign."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update

from services.approval.adapters.tables import verification_holds
from shared.clock import as_utc

_OPEN = verification_holds.c.released_at.is_(None)
# Asked for every report assessed: built once (see repository.py).
_OPEN_HOLD = select(verification_holds).where(
    verification_holds.c.case_id == bindparam("cid"), _OPEN)


@dataclass(frozen=True)
class Hold:
    hold_id: str
    case_id: str
    reason: str  # consent_missing
    occasion: str  # application | periodic_review
    member_refs: tuple[str, ...]
    held_at: datetime
    signed_on: date | None = None
    released_by: str | None = None
    released_at: datetime | None = None


def _hold(row: Any) -> Hold:
    return Hold(row.hold_id, row.case_id, row.reason, row.occasion,
                tuple(json.loads(row.member_refs)), as_utc(row.held_at), row.signed_on,
                row.released_by, row.released_at and as_utc(row.released_at))


def held_cases(reason: str) -> Select[Any]:
    """The ids of the cases held open for this reason: a case list's filter."""
    return select(verification_holds.c.case_id).where(_OPEN,
                                                      verification_holds.c.reason == reason)


class HoldRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def open_hold(self, case_id: str) -> Hold | None:
        row = self.conn.execute(_OPEN_HOLD, {"cid": case_id}).first()
        return None if row is None else _hold(row)

    def of_case(self, case_id: str) -> list[Hold]:
        """Every hold of the case, the open one last: a record of each consent recorded."""
        return [_hold(r) for r in self.conn.execute(
            select(verification_holds).where(verification_holds.c.case_id == case_id)
            .order_by(verification_holds.c.held_at))]

    def hold(self, hold: Hold) -> None:
        """Open a hold, or — the case held already — say the newest who and why on it."""
        values = {"reason": hold.reason, "occasion": hold.occasion,
                  "member_refs": json.dumps(list(hold.member_refs))}
        if self.open_hold(hold.case_id) is not None:
            self.conn.execute(update(verification_holds).where(
                verification_holds.c.case_id == hold.case_id, _OPEN).values(**values))
            return
        self.conn.execute(insert(verification_holds).values(
            hold_id=hold.hold_id, case_id=hold.case_id, held_at=hold.held_at, **values))

    def release(self, hold_id: str, signed_on: date, by: str, at: datetime) -> bool:
        """Close the hold; False when someone closed it first (nothing is changed then)."""
        done = self.conn.execute(update(verification_holds)
                                 .where(verification_holds.c.hold_id == hold_id, _OPEN)
                                 .values(signed_on=signed_on, released_by=by, released_at=at))
        return bool(done.rowcount == 1)

    def end(self, hold_id: str, by: str, at: datetime) -> bool:
        """Close the hold without a consent, the case having ended (withdrawn, or closed for want
        of it): ``signed_on`` stays empty. False when someone closed it first."""
        done = self.conn.execute(update(verification_holds)
                                 .where(verification_holds.c.hold_id == hold_id, _OPEN)
                                 .values(released_by=by, released_at=at))
        return bool(done.rowcount == 1)
