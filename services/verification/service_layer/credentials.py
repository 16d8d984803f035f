"""Partner departments' credentials: issued, overlapped, revoked (``onedoor partners …``).

A department publishes with one bearer credential; verification keeps only its SHA-256. Issuing a
new one keeps the ones it replaces accepted for an overlap, so that the department can put the
new credential in place on its own schedule and no publication fails in between; the overlap
ends at its deadline or when an operator ends it (``revoke_retiring``). The token leaves this
module once, to the caller who hands it to the department; it is never logged or stored.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.verification.adapters.repositories.partners import (
    FINGERPRINT,
    Credential,
    PartnerRepository,
    token_digest,
)
from services.verification.domain.partners import DEPARTMENT_KINDS
from shared.bus.consumer import one_at_a_time
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# The longest overlap: a department that has not switched within a month is asked why, not
# left with two credentials indefinitely.
MAX_OVERLAP = timedelta(days=30)
TOKEN_BYTES = 32  # 256 random bits, 43 characters


class CredentialRefused(ValueError):
    """A request that names no department, or an overlap out of bounds."""


@dataclass(frozen=True)
class Issued:
    department: str
    token: str  # shown once, to be handed over; never logged or stored
    fingerprint: str
    old_until: datetime | None  # when the replaced credentials stop (None: there were none)


def _department(department: str) -> str:
    if department not in DEPARTMENT_KINDS:
        raise CredentialRefused(f"department: not one of {', '.join(sorted(DEPARTMENT_KINDS))}")
    return department


def issue(uow: UnitOfWork, department: str, overlap: timedelta, now: datetime) -> Issued:
    """A new credential for ``department``, its newest from now; the ones it replaces stay
    accepted until ``now + overlap`` (not at all with no overlap)."""
    _department(department)
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise CredentialRefused(f"overlap: between 0 and {MAX_OVERLAP.days * 24} hours")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    # Two operators issuing at once would each retire the same newest credential.
    one_at_a_time(uow.conn, [f"partner-credentials-{department}".encode()])
    repo = PartnerRepository(uow.conn)
    until = now + overlap
    still = repo.retire_newest(department, until, now)
    repo.set_token(department, token, at=now)
    uow.commit()
    fingerprint = token_digest(token)[:FINGERPRINT]
    log.info("partner credential %s issued for %s; %d replaced credential(s) accepted until %s",
             fingerprint, department, still, until.isoformat(timespec="minutes"),
             extra={"department": department, "fingerprint": fingerprint})
    return Issued(department, token, fingerprint, until if still else None)


def revoke_retiring(uow: UnitOfWork, department: str) -> int:
    """Ends the overlap now: only the department's newest credential is accepted."""
    _department(department)
    one_at_a_time(uow.conn, [f"partner-credentials-{department}".encode()])
    revoked = PartnerRepository(uow.conn).revoke_retiring(department)
    uow.commit()
    log.info("%d replaced partner credential(s) of %s revoked", revoked, department,
             extra={"department": department})
    return revoked


def listed(uow: UnitOfWork) -> list[Credential]:
    return PartnerRepository(uow.conn).credentials()
