"""The bureau's publications of verification's figures (``policy_figures``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection

from services.verification.adapters.tables import policy_figures
from shared.bulk import insert_new


class PolicyFigureRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def keep(self, *, sequence: int, proposal_id: str, name: str, region_code: str,
             effective_from: date, value: int, published_at: datetime) -> bool:
        """Keep a publication once (by its sequence and its proposal): whether it is new."""
        return bool(insert_new(self.conn, policy_figures, [{
            "sequence": sequence, "proposal_id": proposal_id, "name": name,
            "region_code": region_code, "effective_from": effective_from, "value": value,
            "published_at": published_at}], "proposal_id"))
