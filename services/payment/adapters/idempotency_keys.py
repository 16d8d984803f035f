"""The answers remembered under each caller's Idempotency-Key (service_layer/commands.py): the
request's hash, so that a key reused for another request is refused, and the answer given.

Apart because it belongs to the requests, not to any payment: written in the same transaction as
a request's effects, whatever they are.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from services.payment.adapters.tables import idempotency_keys


class IdempotencyKeys:
    """Remembered answers (``PaymentRepository`` gathers it with the other tables)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def remembered(self, caller: str, scope: str, key: str) -> tuple[str, int, Any] | None:
        row = self.conn.execute(select(idempotency_keys).where(
            idempotency_keys.c.caller == caller, idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key)).first()
        return None if row is None else (row.request_hash, row.status_code, json.loads(row.body))

    def remember(self, caller: str, scope: str, key: str, request_hash: str, status_code: int,
                 body: Any, at: datetime) -> None:
        self.conn.execute(insert(idempotency_keys).values(
            caller=caller, scope=scope, key=key, request_hash=request_hash,
            status_code=status_code, body=json.dumps(body, default=str), created_at=at))
