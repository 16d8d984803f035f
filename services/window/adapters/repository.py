"""Reads and writes of accounts, sessions and failed sign-ins, rows ↔ domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.window.adapters.tables import sessions, sign_in_failures, staff_accounts
from services.window.domain.accounts import FailedSignIns, Session, StaffAccount
from shared.auth.principals import Role
from shared.clock import as_utc

# An account's failure row, made if missing and left alone if there: the row a sign-in attempt
# holds while it counts itself (see failures_for_update).
_NEW_FAILURES = {
    "sqlite": sqlite.insert(sign_in_failures).on_conflict_do_nothing(index_elements=["account"]),
    "postgresql": postgresql.insert(sign_in_failures).on_conflict_do_nothing(
        index_elements=["account"]),
}


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


class WindowRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- accounts -------------------------------------------------------------------------
    def account(self, staff_id: str) -> tuple[StaffAccount, str | None] | None:
        """The account and its stored password hash."""
        row = self.conn.execute(select(staff_accounts).where(
            staff_accounts.c.staff_id == staff_id)).mappings().first()
        if row is None:
            return None
        return (StaffAccount(row["staff_id"], Role(row["role"]), row["jurisdiction"],
                             row["display_name"], bool(row["active"])), row["password_hash"])

    def add_account(self, account: StaffAccount, password_hash: str | None,
                    now: datetime) -> None:
        self.conn.execute(insert(staff_accounts).values(
            staff_id=account.staff_id, role=str(account.role),
            jurisdiction=account.jurisdiction, display_name=account.display_name,
            password_hash=password_hash, active=account.active, created_at=now))

    def accounts(self) -> list[tuple[StaffAccount, datetime | None]]:
        """Every account with its last sign-in, by staff id."""
        rows = self.conn.execute(select(staff_accounts).order_by(staff_accounts.c.staff_id))
        return [(StaffAccount(r.staff_id, Role(r.role), r.jurisdiction, r.display_name,
                              bool(r.active)), _utc(r.last_sign_in_at)) for r in rows]

    def set_active(self, staff_id: str, active: bool) -> bool:
        """False for no such account. Disabling ends the account's sessions as well."""
        done = self.conn.execute(update(staff_accounts).where(
            staff_accounts.c.staff_id == staff_id).values(active=active)).rowcount
        if done and not active:
            self.conn.execute(delete(sessions).where(sessions.c.staff_id == staff_id))
        return bool(done)

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        self.conn.execute(update(staff_accounts).where(staff_accounts.c.staff_id == staff_id)
                          .values(password_hash=password_hash))

    def signed_in(self, staff_id: str, now: datetime) -> None:
        self.conn.execute(update(staff_accounts).where(staff_accounts.c.staff_id == staff_id)
                          .values(last_sign_in_at=now))

    # --- sessions -------------------------------------------------------------------------
    def session(self, session_hash: str) -> Session | None:
        row = self.conn.execute(select(sessions).where(
            sessions.c.session_hash == session_hash)).mappings().first()
        if row is None:
            return None
        return Session(row["staff_id"], row["csrf_token"], as_utc(row["created_at"]),
                       as_utc(row["last_seen_at"]))

    def add_session(self, session_hash: str, session: Session) -> None:
        self.conn.execute(insert(sessions).values(
            session_hash=session_hash, staff_id=session.staff_id, csrf_token=session.csrf_token,
            created_at=session.created_at, last_seen_at=session.last_seen_at))

    def touch_session(self, session_hash: str, now: datetime) -> None:
        self.conn.execute(update(sessions).where(sessions.c.session_hash == session_hash)
                          .values(last_seen_at=now))

    def delete_session(self, session_hash: str) -> None:
        self.conn.execute(delete(sessions).where(sessions.c.session_hash == session_hash))

    def delete_stale_sessions(self, idle_since: datetime, created_before: datetime) -> int:
        return self.conn.execute(delete(sessions).where(or_(
            sessions.c.last_seen_at < idle_since,
            sessions.c.created_at < created_before))).rowcount

    # --- failed sign-ins ------------------------------------------------------------------
    def failures(self, account: str) -> FailedSignIns:
        row = self.conn.execute(select(sign_in_failures).where(
            sign_in_failures.c.account == account)).mappings().first()
        if row is None:
            return FailedSignIns()
        return FailedSignIns(row["failures"], _utc(row["first_failed_at"]),
                             _utc(row["locked_until"]))

    def failures_for_update(self, account: str, now: datetime) -> FailedSignIns:
        """The account's failures, its row held until the transaction ends, so that concurrent
        attempts count one after another. A missing row is made first, with no failures: a row
        that does not exist cannot be locked, and two first failures would both insert."""
        values = {"account": account, "failures": 0, "first_failed_at": now,
                  "locked_until": None}
        statement = _NEW_FAILURES.get(self.conn.dialect.name)
        if statement is not None:
            self.conn.execute(statement.values(**values))
        elif self.conn.execute(select(sign_in_failures.c.account).where(
                sign_in_failures.c.account == account)).first() is None:
            self.conn.execute(insert(sign_in_failures).values(**values))  # another database
        row = self.conn.execute(select(sign_in_failures).where(
            sign_in_failures.c.account == account).with_for_update()).mappings().one()
        return FailedSignIns(row["failures"], _utc(row["first_failed_at"]),
                             _utc(row["locked_until"]))

    def save_failures(self, account: str, state: FailedSignIns) -> None:
        values: dict[str, Any] = {"failures": state.failures,
                                  "first_failed_at": state.first_failed_at,
                                  "locked_until": state.locked_until}
        done = self.conn.execute(update(sign_in_failures).where(
            sign_in_failures.c.account == account).values(**values)).rowcount
        if not done:
            self.conn.execute(insert(sign_in_failures).values(account=account, **values))

    def clear_failures(self, account: str) -> None:
        self.conn.execute(delete(sign_in_failures).where(sign_in_failures.c.account == account))

    def forget_old_failures(self, before: datetime) -> None:
        """Names typed once and never again (typos, guesses) are not kept for ever."""
        self.conn.execute(delete(sign_in_failures).where(and_(
            sign_in_failures.c.first_failed_at < before,
            or_(sign_in_failures.c.locked_until.is_(None),
                sign_in_failures.c.locked_until < before))))
