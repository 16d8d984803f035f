"""The consent to the check (授权核对) signed after the application, as the town records it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, update

from services.verification.adapters.tables import household_members


def record_consent(conn: Connection, case_id: str, person_refs: Sequence[str]) -> int:
    """Mark these members of the case's household as having signed; how many were its members
    (a reference that is not one of them changes nothing)."""
    if not person_refs:
        return 0
    done = conn.execute(update(household_members)
                        .where(household_members.c.case_id == case_id,
                               household_members.c.person_ref.in_(list(person_refs)))
                        .values(consent_signed=True))
    return int(done.rowcount)
