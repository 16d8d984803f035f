"""Why verification may not check a case yet, and who must sign, as the case page shows it.

Approval's ``verification_hold`` (``GET /cases/{id}``) gives the reason's code, the occasion, and
each member who must sign the consent (授权核对) by reference, with their place on the form and
relation — never a name. Intake's case, for a reader entitled to it, lists the members in the
same order with their names: the page names each one where the two agree on the relation, and
says only the place and relation otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Signer:
    position: int | None  # on the form, from 1
    relation: str | None
    name: str | None  # from intake, where its member at that place is the same relation


@dataclass(frozen=True)
class Hold:
    reason: str  # consent_missing: the page's words are hold_<reason>, hold_<reason>_<occasion>
    occasion: str  # application | periodic_review
    held_at: str
    signers: tuple[Signer, ...]
    may_record: bool  # the reader's role records the consent (approval decides when sent)


def hold_of(workflow: Mapping[str, Any] | None, members: Sequence[Mapping[str, Any]],
            role: str) -> Hold | None:
    held = (workflow or {}).get("verification_hold")
    if not held:
        return None
    signers = []
    for m in held.get("members") or ():
        position, relation = m.get("position"), m.get("relation")
        known = (members[position - 1] if isinstance(position, int)
                 and 0 < position <= len(members) else {})
        name = known.get("name") if known.get("relation") == relation else None
        signers.append(Signer(position, relation, name))
    return Hold(str(held.get("reason", "")), str(held.get("occasion", "")),
                str(held.get("held_at", "")), tuple(signers),
                role in (held.get("recorded_by") or ()))
