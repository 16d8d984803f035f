"""Who is calling: a ``Principal`` (an id, a ``Role``, a jurisdiction), and the place a case is
known by. No name and no ID number: principals are logged with every refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    WINDOW_CLERK = "window_clerk"
    TOWN_REVIEWER = "town_reviewer"
    DISTRICT_APPROVER = "district_approver"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    PARTNER = "partner"  # another department's system
    SERVICE = "service"  # OneDoor's own machines: the CLI, the demo, internal jobs
    POLICY_OFFICER = "policy_officer"  # 政策管理: a city's or district's policy figures
    SOCIAL_WORKER = "social_worker"  # 社工: a town's home surveys (入户调查), on a phone


_ROLES = {role.value: role for role in Role}
# Only work that is not tied to a place may reach every region.
_NATIONWIDE = frozenset({Role.ADMINISTRATOR, Role.AUDITOR, Role.SERVICE})
_JURISDICTION = re.compile(r"[0-9]{6}|[0-9]{9}")  # [0-9], not \d: \d also matches "٣"
# Subjects end up in every access log line: ids only, in a charset that cannot forge a log line.
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_RESIDENT_ID = re.compile(r"[0-9]{15}|[0-9]{17}[0-9Xx]")


def principal_problem(subject: object, role: object, jurisdiction: object) -> str | None:
    """Why these cannot be a principal (a token's claims, or one about to be issued), or None."""
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        return "subject is not a staff or client id"
    if _RESIDENT_ID.fullmatch(subject):
        return "subject looks like a resident ID number"
    if not isinstance(role, str) or role not in _ROLES:
        return "unknown role"
    if not isinstance(jurisdiction, str) or not (
            jurisdiction == "" or _JURISDICTION.fullmatch(jurisdiction)):
        return "jurisdiction is not a 6- or 9-digit region code"
    if jurisdiction == "" and _ROLES[role] not in _NATIONWIDE:
        return f"role {role} may not hold every region"
    return None


@dataclass(frozen=True)
class Principal:
    """Who is calling. No name and no ID number: it is logged with every refusal."""

    subject: str  # staff id or client id, e.g. "c-0142"
    role: Role
    jurisdiction: str  # region-code prefix: "" everywhere, 6 digits a district, 9 a town
    expires_at: datetime

    def __post_init__(self) -> None:
        if problem := principal_problem(self.subject, self.role, self.jurisdiction):
            raise ValueError(problem)
        object.__setattr__(self, "role", Role(self.role))

    @property
    def key_scope(self) -> str:
        """Whose Idempotency-Keys these are: the caller in their jurisdiction, as a payment
        provider scopes keys to an account. A key used elsewhere is another caller's, unseen."""
        return f"{self.subject}@{self.jurisdiction}"

    def covers(self, area: str | None) -> bool:
        """Whether ``area`` (a region code) is within reach. A case known only at district level
        is not a town's to see: it may belong to another town of the district."""
        if area is None:
            return self.jurisdiction == ""
        return area.startswith(self.jurisdiction)


def area_of(region_code: str | None, town_code: str | None) -> str | None:
    """The most precise region a case is known by: its town when recorded, else its district."""
    return town_code or region_code
