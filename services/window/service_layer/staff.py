"""Staff accounts kept by an administrator (``onedoor staff``): made with a role, a
jurisdiction and a password, disabled when someone leaves. Demo accounts aside
(service_layer/demo.py), this is how accounts come to exist.

Plain functions over the window's engine, like sign-in (service_layer/signin.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from services.window.adapters.passwords import hash_password
from services.window.adapters.repository import WindowRepository
from services.window.domain.accounts import StaffAccount, account_problem
from services.window.service_layer.uow import unit_of_work
from shared.auth.principals import Role
from shared.db import reading

# Long enough that guessing is hopeless within the lockout's limits, short enough to type.
MIN_PASSWORD = 12


class AccountRefused(ValueError):
    """The account cannot be made or changed as asked; the message says why."""


def add(engine: Engine, staff_id: str, role: str, jurisdiction: str, display_name: str,
        password: str, now: datetime) -> StaffAccount:
    if problem := account_problem(staff_id, role, jurisdiction):
        raise AccountRefused(problem)
    if not 1 <= len(display_name.strip()) <= 100:
        raise AccountRefused("a display name is 1-100 characters")
    if len(password) < MIN_PASSWORD:
        raise AccountRefused(f"a password is at least {MIN_PASSWORD} characters")
    account = StaffAccount(staff_id, Role(role), jurisdiction, display_name.strip())
    hashed = hash_password(password)  # ~0.1 s of CPU, outside the transaction
    try:
        with unit_of_work(engine) as uow:
            WindowRepository(uow.conn).add_account(account, hashed, now)
            uow.commit()
    except IntegrityError as exc:
        raise AccountRefused(f"{staff_id} exists already") from exc
    return account


def set_active(engine: Engine, staff_id: str, active: bool) -> None:
    with unit_of_work(engine) as uow:
        if not WindowRepository(uow.conn).set_active(staff_id, active):
            raise AccountRefused(f"no account {staff_id}")
        uow.commit()


def listed(engine: Engine) -> list[tuple[StaffAccount, datetime | None]]:
    with reading(engine) as conn:
        return WindowRepository(conn).accounts()
