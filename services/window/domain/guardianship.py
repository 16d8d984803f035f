"""A child's guardianship facts on the new-application form, for the orphans' and de-facto
unsupported children's allowance (孤儿、事实无人抚养儿童基本生活保障, programme ``orphan``).

The codes are the event catalogue's, the very types intake's schema validates against, so the
form cannot offer a code intake refuses. Whether a child's facts are complete (both parents and
the care) stays intake's to say: its 422 comes back next to the field it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from shared.events.catalogue import ChildCare, ParentSituation, Schooling

PROGRAMME = "orphan"
PARENT_SITUATIONS: tuple[str, ...] = get_args(ParentSituation)
CHILD_CARE: tuple[str, ...] = get_args(ChildCare)
SCHOOLING: tuple[str, ...] = get_args(Schooling)
# Each field of a member card, and the codes it offers (the member's field in intake's body).
FIELDS: dict[str, tuple[str, ...]] = {"father": PARENT_SITUATIONS,
                                      "mother": PARENT_SITUATIONS,
                                      "child_care": CHILD_CARE, "schooling": SCHOOLING}


def member_facts(programme: str, get: Callable[[str], str], prefix: str) -> dict[str, str]:
    """The facts chosen on one member card, as intake's member fields.

    Only for the orphans' allowance: the fields stay on the page for every programme (the form
    works without JavaScript, which is what hides them), and intake refuses them on any other
    programme, so a value left there from an earlier choice of programme is not sent. A value
    that is no code (sent by hand) is passed on for intake to refuse on its field."""
    if programme != PROGRAMME:
        return {}
    return {name: value for name in FIELDS if (value := get(prefix + name))}


# --- the case page: each child's parents, as declared and as on record -------------------------

@dataclass(frozen=True)
class Parent:
    declared: str | None
    on_record: str | None  # the children's welfare information system's, which decides

    @property
    def differs(self) -> bool:
        return self.on_record is not None and self.on_record != self.declared


@dataclass(frozen=True)
class Child:
    position: int  # 1-based, the member's place on the form
    name: str
    relation: str
    father: Parent
    mother: Parent
    child_care: str | None
    schooling: str | None

    @property
    def differs(self) -> bool:
        return self.father.differs or self.mother.differs


def children(members: Sequence[Mapping[str, Any]],
             reported: Sequence[Mapping[str, Any]] | None) -> list[Child]:
    """The members with guardianship facts declared or on record, from intake's case and
    verification's latest report.

    Neither names members alike (intake shows names, the report pseudonyms), but a report keeps
    the form's order (verification's household_members.position): members are paired by place,
    and only when both list the same number of members — a record shown against the wrong
    child would be worse than none."""
    records = list(reported or [])
    if len(records) != len(members):
        records = [{} for _ in members]
    found = []
    for i, (m, r) in enumerate(zip(members, records, strict=True)):
        child = Child(i + 1, str(m.get("name", "")), str(m.get("relation", "")),
                      Parent(m.get("father"), r.get("father_on_record")),
                      Parent(m.get("mother"), r.get("mother_on_record")),
                      m.get("child_care"), m.get("schooling"))
        if any((child.father.declared, child.father.on_record, child.mother.declared,
                child.mother.on_record, child.child_care, child.schooling)):
            found.append(child)
    return found
