"""Staff accounts and the sessions they sign in to: the rules, without a database or a web page.

A session has two ends: it lapses after a while without a request (someone left the window
open and walked away), and it ends a working day after sign-in whatever happens (a session is
not a way to keep a stolen cookie for ever). Repeated wrong passwords lock one account for a
while — per account, so guessing one clerk's password does not lock out the whole office.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.auth.principals import Role

# The staff who sign in to the window; partner departments and OneDoor's own jobs are machine
# clients with tokens of their own, never a password here.
STAFF_ROLES = (Role.WINDOW_CLERK, Role.TOWN_REVIEWER, Role.DISTRICT_APPROVER, Role.AUDITOR,
               Role.ADMINISTRATOR, Role.POLICY_OFFICER, Role.SOCIAL_WORKER)
# Where each role works: a town's window and reviewers, a district's approvers, a city's or a
# district's policy officers (policy figures are set per city or district, never per town).
# Auditors and administrators may hold a district or everywhere ("").
_PLACES: dict[Role, re.Pattern[str]] = {
    Role.WINDOW_CLERK: re.compile(r"[0-9]{9}|[0-9]{6}"),
    Role.TOWN_REVIEWER: re.compile(r"[0-9]{9}"),
    Role.SOCIAL_WORKER: re.compile(r"[0-9]{9}"),  # a town's social workers (社工)
    Role.DISTRICT_APPROVER: re.compile(r"[0-9]{6}"),
    Role.AUDITOR: re.compile(r"|[0-9]{6}"),
    Role.ADMINISTRATOR: re.compile(r"|[0-9]{6}"),
    Role.POLICY_OFFICER: re.compile(r"[0-9]{6}"),
}
# What a person types as their account, and what the token's subject becomes: an id, never a
# name (it is logged with every refusal).
STAFF_ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


def account_problem(staff_id: str, role: str, jurisdiction: str) -> str | None:
    """Why this cannot be a staff account, or None."""
    if not STAFF_ID.fullmatch(staff_id):
        return "a staff id is 2-32 lower-case letters, digits, '.', '_' or '-'"
    if role not in {r.value for r in STAFF_ROLES}:
        return f"{role!r} is not a staff role"
    if not _PLACES[Role(role)].fullmatch(jurisdiction):
        return f"a {role} cannot hold jurisdiction {jurisdiction!r}"
    return None


@dataclass(frozen=True)
class StaffAccount:
    staff_id: str
    role: Role
    jurisdiction: str  # region-code prefix: 9 digits a town, 6 a district, "" everywhere
    display_name: str  # shown on the page to its owner; never logged, never in a token
    active: bool = True


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta


@dataclass(frozen=True)
class Session:
    staff_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime, policy: SessionPolicy) -> bool:
        return (now - self.last_seen_at >= policy.idle
                or now - self.created_at >= policy.lifetime)

    def needs_touch(self, now: datetime) -> bool:
        # Writing last_seen on every request would make every page a write; a minute's
        # precision is plenty against a 30-minute idle limit.
        return now - self.last_seen_at >= timedelta(minutes=1)


@dataclass(frozen=True)
class Throttle:
    """How many wrong passwords an account takes before it locks, and for how long."""

    max_failures: int
    lockout: timedelta


@dataclass(frozen=True)
class FailedSignIns:
    """Recent wrong passwords for one account name (typed, so unknown names are throttled too:
    otherwise the lockout would tell which accounts exist)."""

    failures: int = 0
    first_failed_at: datetime | None = None
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, throttle: Throttle) -> FailedSignIns:
        # Failures older than the lockout time are forgiven: five typos a month lock nobody.
        current = self
        if self.first_failed_at is None or now - self.first_failed_at >= throttle.lockout:
            current = FailedSignIns(0, now, None)
        failures = current.failures + 1
        locked_until = now + throttle.lockout if failures >= throttle.max_failures else None
        return replace(current, failures=failures, locked_until=locked_until)
