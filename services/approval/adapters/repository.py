"""Decisions in approval's database."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, insert, select

from services.approval.adapters.tables import decisions
from shared.events.catalogue import ApplicationDecided

# Run for every report, so built once (see intake's repository for why).
_EXISTS = select(decisions.c.case_id).where(decisions.c.case_id == bindparam("cid"))
_ADD = insert(decisions)


class DecisionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, case_id: str) -> bool:
        return self.conn.execute(_EXISTS, {"cid": case_id}).first() is not None

    def add(self, decided: ApplicationDecided) -> None:
        self.conn.execute(_ADD, {
            "case_id": decided.case_id, "decision_id": decided.decision_id,
            "outcome": decided.outcome, "region_code": decided.region_code,
            "monthly_amount_fen": decided.monthly_amount_fen,
            "body": decided.model_dump_json(), "decided_at": decided.decided_at})

    def get(self, case_id: str) -> str | None:
        return self.conn.execute(
            select(decisions.c.body).where(decisions.c.case_id == case_id)).scalar_one_or_none()
