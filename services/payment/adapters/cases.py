"""Where each case is handled (its district and town, from its decision: the jurisdiction
checks of payment's API read it) and who its members are (the household the temporary
assistance cap adds up, adapters/payments.py).

Apart because it is about the case, not its money: kept once, and never changed by a payment.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from services.payment.adapters.tables import case_areas, case_members


class Cases:
    """Cases' areas and members (``PaymentRepository`` gathers it with the other tables)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record_area(self, case_id: str, region_code: str, town_code: str | None) -> None:
        """Where the case is handled; kept once (a case never moves, a decision may repeat)."""
        if self.area(case_id) is None:
            self.conn.execute(insert(case_areas).values(
                case_id=case_id, region_code=region_code, town_code=town_code))

    def area(self, case_id: str) -> tuple[str, str | None] | None:
        row = self.conn.execute(select(case_areas.c.region_code, case_areas.c.town_code)
                                .where(case_areas.c.case_id == case_id)).first()
        return None if row is None else (row[0], row[1])

    def add_members(self, case_id: str, person_refs: Iterable[str]) -> None:
        known = set(self.conn.execute(select(case_members.c.person_ref)
                                      .where(case_members.c.case_id == case_id)).scalars())
        rows = [{"case_id": case_id, "person_ref": ref} for ref in dict.fromkeys(person_refs)
                if ref not in known]
        if rows:
            self.conn.execute(insert(case_members), rows)
