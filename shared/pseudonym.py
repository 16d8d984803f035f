"""Keyed pseudonyms for persons.

Events and logs are kept for years and replayed by auditors, so they must not carry names or
resident ID numbers. A person is referred to by HMAC-SHA256(key, ID number): stable, so every
service and every department's record about the same person meet under the same reference, and
not reversible without the key, which only intake and verification hold.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


def person_ref(key: bytes, resident_id: str) -> str:
    """The pseudonymous reference of the person with this resident ID number."""
    normalized = resident_id.strip().upper()
    digest = hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
    return f"p-{digest[:32]}"


def pseudonymiser(key: bytes) -> Callable[[str], str]:
    """``person_ref`` with the key bound, for millions of calls: the HMAC's keyed state is made
    once and copied per call (about a quarter faster, measured in bulk ingestion)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def ref(resident_id: str) -> str:
        digest = keyed.copy()
        digest.update(resident_id.strip().upper().encode("ascii"))
        return f"p-{digest.hexdigest()[:32]}"

    return ref
