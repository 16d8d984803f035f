"""Signing staff in and out, and finding who a request's session belongs to.

Plain functions over the window's engine. Writes go through a unit of work, as in every service,
that commits in one place (``service_layer/uow.py``: the window publishes no events, so it has
no outbox). Reads use ``shared.db.reading``. Password hashing
(~0.1 s of CPU) is done outside any transaction, so no sign-in holds SQLite's write lock while
scrypt runs.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from services.window.adapters.passwords import hash_password, needs_rehash
from services.window.adapters.repository import WindowRepository
from services.window.domain.accounts import (
    STAFF_ID,
    FailedSignIns,
    Session,
    SessionPolicy,
    StaffAccount,
    Throttle,
    account_problem,
)
from services.window.service_layer.identity import IdentityProvider
from services.window.service_layer.uow import unit_of_work
from shared.db import reading

log = logging.getLogger("onedoor.window.signin")


class SignInRefused(Exception):
    """``reason``: "credentials" (wrong account or password: the page says no more) or
    "locked" (too many failures for this account: try again later)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    session_id: str  # the cookie's value; only its hash is stored
    account: StaffAccount
    csrf_token: str


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(engine: Engine, provider: IdentityProvider, typed_account: str, password: str,
            now: datetime, throttle: Throttle, *, previous_session: str | None = None
            ) -> SignedIn:
    """A new session for the account, or SignInRefused. Any session the browser held before is
    ended: the session id changes at sign-in, so an id planted before it is worth nothing."""
    account_name = typed_account.strip().lower()[:32]
    attempts = _count_attempt(engine, account_name, now, throttle)
    with reading(engine) as conn:
        repo = WindowRepository(conn)
        found = repo.account(account_name) if STAFF_ID.fullmatch(account_name) else None
    account, stored = found if found is not None else (None, None)
    usable = account is not None and account.active
    # Checked even for an unknown account (against a dummy hash) so the time taken does not
    # tell which accounts exist.
    good = provider.check_password(password, stored if usable else None)
    if not (good and account is not None and usable):
        _refused(account, attempts, now)
    assert account is not None and stored is not None
    rehashed = hash_password(password) if needs_rehash(stored) else None
    return _open_session(engine, account, now, previous_session, rehashed=rehashed,
                         clear_failures_of=account_name)


def sign_in_verified(engine: Engine, staff_id: str, now: datetime, *,
                     previous_session: str | None = None) -> SignedIn:
    """A new session for a staff id an identity provider has vouched for (OpenID Connect), or
    SignInRefused: the provider proves who, the window's own accounts say whether they work
    here, so an id without an active account signs nobody in."""
    found = None
    if STAFF_ID.fullmatch(staff_id):
        with reading(engine) as conn:
            found = WindowRepository(conn).account(staff_id)
    if found is None or not found[0].active:
        log.warning("sign-in refused: the identity provider vouched for %s, which has no "
                    "active account here", "an account" if found else "an unknown id")
        raise SignInRefused("no_account")
    return _open_session(engine, found[0], now, previous_session)


def _open_session(engine: Engine, account: StaffAccount, now: datetime,
                  previous_session: str | None, *, rehashed: str | None = None,
                  clear_failures_of: str | None = None) -> SignedIn:
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with unit_of_work(engine) as uow:
        repo = WindowRepository(uow.conn)
        if clear_failures_of:
            repo.clear_failures(clear_failures_of)
        if previous_session:
            repo.delete_session(session_hash(previous_session))
        repo.add_session(session_hash(session_id), Session(account.staff_id, csrf, now, now))
        repo.signed_in(account.staff_id, now)
        if rehashed:
            repo.set_password_hash(account.staff_id, rehashed)
        uow.commit()
    log.info("signed in: %s (%s, %s)", account.staff_id, account.role,
             account.jurisdiction or "everywhere")
    return SignedIn(session_id, account, csrf)


def _count_attempt(engine: Engine, account_name: str, now: datetime,
                   throttle: Throttle) -> FailedSignIns:
    """Counts the attempt as a failure before its password is checked (a success clears it), or
    refuses it if the account is locked. Counted first, holding the account's row: checked
    first and counted after, a burst of parallel guesses all passed the check before any was
    counted (and PostgreSQL's concurrent counts overwrote one another), so a burst got as many
    guesses as it had requests, not max_failures."""
    with unit_of_work(engine) as uow:
        repo = WindowRepository(uow.conn)
        state = repo.failures_for_update(account_name, now)
        if state.locked(now):
            raise SignInRefused("locked")
        state = state.after_failure(now, throttle)
        repo.save_failures(account_name, state)
        repo.forget_old_failures(now - throttle.lockout)
        uow.commit()
    return state


def _refused(account: StaffAccount | None, attempts: FailedSignIns, now: datetime) -> NoReturn:
    # Only a real account's id is logged: what was typed into the account field of a failed
    # attempt could be anything, a person's name or ID number included.
    who = account.staff_id if account is not None else "an unknown account"
    log.warning("sign-in refused for %s (%d failures%s)", who, attempts.failures,
                ", now locked" if attempts.locked(now) else "")
    raise SignInRefused("locked" if attempts.locked(now) else "credentials")


def current(engine: Engine, session_id: str | None, now: datetime,
            policy: SessionPolicy) -> tuple[Session, StaffAccount] | None:
    """The session and account of a cookie's value, or None (unknown, expired, or the account
    was disabled). An expired session is deleted on sight."""
    if not session_id or len(session_id) > 100:
        return None
    key = session_hash(session_id)
    with reading(engine) as conn:
        repo = WindowRepository(conn)
        session = repo.session(key)
        found = repo.account(session.staff_id) if session is not None else None
    if session is None or found is None:
        return None
    account = found[0]
    if session.expired(now, policy) or not account.active:
        with unit_of_work(engine) as uow:
            WindowRepository(uow.conn).delete_session(key)
            uow.commit()
        return None
    if session.needs_touch(now):
        with unit_of_work(engine) as uow:
            WindowRepository(uow.conn).touch_session(key, now)
            uow.commit()
    return session, account


def sign_out(engine: Engine, session_id: str) -> None:
    with unit_of_work(engine) as uow:
        WindowRepository(uow.conn).delete_session(session_hash(session_id))
        uow.commit()


def prune_sessions(engine: Engine, now: datetime, policy: SessionPolicy) -> int:
    with unit_of_work(engine) as uow:
        pruned = WindowRepository(uow.conn).delete_stale_sessions(now - policy.idle,
                                                                  now - policy.lifetime)
        uow.commit()
    return pruned


def ensure_accounts(engine: Engine, accounts: list[tuple[StaffAccount, str]],
                    now: datetime) -> list[str]:
    """Create the accounts that do not exist yet (each with its password); leave the others,
    password included, as they are. Returns the ids created."""
    created = []
    for account, password in accounts:
        if problem := account_problem(account.staff_id, str(account.role), account.jurisdiction):
            raise ValueError(f"{account.staff_id}: {problem}")
        with reading(engine) as conn:
            if WindowRepository(conn).account(account.staff_id) is not None:
                continue
        hashed = hash_password(password)
        try:
            with unit_of_work(engine) as uow:
                WindowRepository(uow.conn).add_account(account, hashed, now)
                uow.commit()
        except IntegrityError:
            continue  # another process made it in between: theirs stands
        created.append(account.staff_id)
    return created
