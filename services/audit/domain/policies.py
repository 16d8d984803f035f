"""The policy library: every version of the policy table approval has decided by, rebuilt from
the base (the packaged files, or the ones an auditor names) and the bureau's publications.

Approval starts from its packaged files and, for each ``PolicyPublished`` in sequence order,
amends its live table by the published figure (issue 22 §2). The library does the same, so
table *k* is the one approval decided by after publication *k* (table 0, the base, before any).
A replayed assessment is re-run with the table whose version it records; an assessment that
names no table the library holds (today's ``policy_version`` lists the figures used, not the
table's digest) is re-run with the table in force when it was made: the last publication made
by then. A publication takes effect no earlier than the next month, so a later one cannot have
changed what was in force on the assessment's day — the time decides.

Pure: publications in (as their JSON), tables out. The tables are made once per library and
reused for every decision: each caches what is in force per region and day.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.approval.rules import PolicyTable
from services.audit.domain import event_time
from services.audit.domain.restated import assessment_policy
from shared.events import catalogue as ev
from shared.policy import published_figure

# How a decision's table was chosen, as a divergence reports it.
BY_VERSION, BY_TIME, ONLY = "version", "time", "only"


@dataclass(frozen=True)
class Publication:
    """What the library takes of a ``PolicyPublished``."""

    sequence: int
    proposal_id: str
    name: str
    region_code: str
    effective_from: date
    value: int
    policy_version: str  # approval's digest of its table once this was published
    published_at: int  # microseconds since the epoch, UTC (as the fold keeps moments)

    @classmethod
    def of(cls, value: bytes) -> Publication:
        """A publication from its archived JSON (through the model: there are few of them, and
        an older version of the event gets its defaults)."""
        e = ev.PolicyPublished.model_validate_json(value)
        return cls(e.sequence, e.proposal_id, e.name, e.region_code, e.effective_from, e.value,
                   e.policy_version, event_time.of(e.published_at))


class PolicyLibrary:
    """Table 0 is the base; table k the base amended by publications 1..k in sequence order."""

    def __init__(self, base: PolicyTable, publications: Iterable[Publication] = (),
                 unreadable: int = 0) -> None:
        # Sequence order, each once: the archive holds an event once per topic, but a
        # publication re-sent under another id would otherwise amend twice.
        published = sorted({p.sequence: p for p in publications}.values(),
                           key=lambda p: p.sequence)
        self.base = base
        self.publications: tuple[Publication, ...] = tuple(published)
        self.unreadable = unreadable  # archived records of the topic not read as one
        tables = [base]
        for p in published:
            tables.append(tables[-1].amended([published_figure(
                p.proposal_id, p.name, p.region_code, p.effective_from, p.value)]))
        self.tables: tuple[PolicyTable, ...] = tuple(tables)
        self.single = len(tables) == 1  # no publication: every decision takes the base
        # A version names a table both as rebuilt here and as approval published it (they
        # differ where the base files differ from approval's). A version two tables share
        # (a figure published again with its value) names neither: the time decides.
        by_version: dict[str, int | None] = {}
        for k, table in enumerate(tables):
            names = {table.version} | ({published[k - 1].policy_version} if k else set())
            for version in names:
                by_version[version] = k if by_version.get(version, k) == k else None
        self._by_version = {v: k for v, k in by_version.items() if k is not None}
        # The table in force at t is the last publication (in sequence order) made by t. Made
        # by: published_at <= t. Should a clock have stepped back between two publications,
        # the latest made by t is still found by bisection over the running minimum from the
        # end (non-decreasing): the count of its entries <= t is that publication's position.
        ends = [p.published_at for p in published]
        for i in range(len(ends) - 2, -1, -1):
            ends[i] = min(ends[i], ends[i + 1])
        self._made_by = ends

    def __len__(self) -> int:
        return len(self.tables)

    def in_force_at(self, moment: int) -> int:
        """The table approval decided by at ``moment`` (µs): its position in ``tables``."""
        return bisect.bisect_right(self._made_by, moment)

    def chosen(self, recorded: str | None, moment: int) -> tuple[int, str]:
        """The table to re-run an assessment with: the one its recorded policy version names
        (a dict look-up), else the one in force when it was made; and how it was chosen."""
        k = self._by_version.get(recorded) if recorded is not None else None
        if k is not None:
            return k, BY_VERSION
        return self.in_force_at(moment), BY_TIME

    def table_for(self, assessment: bytes) -> tuple[int, str]:
        """``chosen`` for a published assessment (its JSON); with no publication, the base,
        without reading anything of it (the replay's benchmark has none)."""
        if self.single:
            return 0, ONLY
        recorded, made_at = assessment_policy(assessment)
        return self.chosen(recorded, event_time.of(event_time.parsed(made_at)))

    def archived(self) -> dict[str, Any]:
        """What the archive gave: publications read, sequences missing among them (each
        table after a gap is not one approval had), records not readable as one."""
        have = {p.sequence for p in self.publications}
        return {"publications": len(have), "unreadable": self.unreadable,
                "missing_sequences": sorted(set(range(1, max(have, default=0) + 1)) - have)}

    def described(self, used: dict[int, int]) -> list[dict[str, Any]]:
        """The tables that re-ran decisions (``used``: position → decisions), for a summary."""
        out: list[dict[str, Any]] = []
        for k in sorted(used):
            table, entry = self.tables[k], {"sequence": k, "version": self.tables[k].version,
                                            "decisions": used[k]}
            if k:
                p = self.publications[k - 1]
                entry.update(
                    sequence=p.sequence, proposal_id=p.proposal_id, name=p.name,
                    region_code=p.region_code, effective_from=p.effective_from.isoformat(),
                    value=p.value, published_at=event_time.moment(p.published_at).isoformat(),
                    published_version=p.policy_version,
                    # False: the base given is not the one approval amended (other files).
                    rebuilt_as_published=table.version == p.policy_version)
            out.append(entry)
        return out
