"""Recipients (whether a case's benefit runs) and the cases decided."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    insert,
    select,
    update,
)

from services.verification.adapters.tables import (
    case_decisions,
    recipients,
)
from shared.bulk import insert_new
from shared.sql import among


class RecipientRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def set_active(self, case_id: str, active: bool, at: datetime) -> None:
        changed = self.conn.execute(update(recipients).where(recipients.c.case_id == case_id)
                                    .values(active=active, changed_at=at)).rowcount
        if not changed:
            self.conn.execute(insert(recipients).values(case_id=case_id, active=active,
                                                        changed_at=at))

    def decide(self, case_id: str, outcome: str, at: datetime) -> None:
        """The case is decided (once: a decision delivered again changes nothing)."""
        insert_new(self.conn, case_decisions,
                   [{"case_id": case_id, "outcome": outcome, "decided_at": at}], "case_id")

    def decided_among(self, case_ids: Sequence[str]) -> set[str]:
        if not case_ids:
            return set()
        return set(self.conn.execute(select(case_decisions.c.case_id).where(
            among(case_decisions.c.case_id, "cids")), {"cids": case_ids}).scalars())

    def active_among(self, case_ids: Sequence[str]) -> set[str]:
        if not case_ids:
            return set()
        return set(self.conn.execute(select(recipients.c.case_id).where(
            recipients.c.active, among(recipients.c.case_id, "cids")), {"cids": case_ids}
        ).scalars())

    def is_active(self, case_id: str) -> bool:
        return bool(self.conn.execute(select(recipients.c.active)
                                      .where(recipients.c.case_id == case_id)).scalar())
