"""A case's bank account, as the vault sealed it (services/payment/adapters/vault.py): the
number and the holder's name sealed, its last four digits in clear for the answers' mask, and a
version that counts its corrections.

Apart because it holds a person's account number and name (sealed, bound to the case) and is
written here alone; the bank files read it in service_layer/banking.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.payment.adapters.tables import accounts


class Accounts:
    """Cases' accounts, sealed (``PaymentRepository`` gathers it with the other tables)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def account(self, case_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(accounts).where(accounts.c.case_id == case_id)
                                ).mappings().first()
        return None if row is None else dict(row)

    def put_account(self, case_id: str, bank_code: str, account_sealed: str, last4: str,
                    holder_sealed: str, at: datetime) -> int:
        """Registers or corrects a case's account; answers with its version (1 for the first)."""
        current = self.account(case_id)
        values = {"bank_code": bank_code, "account_sealed": account_sealed,
                  "account_last4": last4, "holder_sealed": holder_sealed, "updated_at": at}
        if current is None:
            self.conn.execute(insert(accounts).values(case_id=case_id, version=1, **values))
            return 1
        version = int(current["version"]) + 1
        self.conn.execute(update(accounts).where(accounts.c.case_id == case_id)
                          .values(version=version, **values))
        return version
