"""Keyed pseudonyms for persons.

Events and logs are kept for years and replayed by auditors, so they must not carry names or
resident ID numbers. A person is referred to by HMAC-SHA256(key, ID number): stable, so every
service and every department's record about the same person meet under the same reference, and
not reversible without the key, which only intake and verification hold.
"""

from __future__ import annotations

import hashlib
import hmac


def person_ref(key: bytes, resident_id: str) -> str:
    """The pseudonymous reference of the person with this resident ID number."""
    normalized = resident_id.strip().upper()
    digest = hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
    return f"p-{digest[:32]}"
