"""Verifying the archive: every link recomputed, every signed checkpoint compared, every break
located.

The records stream through once, chain by chain (ordered by topic, partition, seq). Memory does
not grow with the archive: per chain only the last record's facts, a window of recent hashes and
the gaps still open are kept; checkpoints are few and are read up front.

How a break is told apart — each record is first given its *original seq*, the position its
stored hash was computed for (seq is part of the link, so the hash records where it stood):

- its link recomputes under its stored seq: that seq;
- otherwise, if its stored ``prev_hash`` is the hash of a record met shortly before (or GENESIS),
  the one after that record; if not, the seq nearest its stored one (within ±SEARCH) under which
  it recomputes (rows renumbered to close a gap, or two rows' seqs swapped);
- if nothing recomputes, its content was changed: **modified**, at its stored seq, and it keeps
  its stored seq as its original one. Its successor still links to its *stored* hash (an edit
  does not touch the next row), so the break is reported once, here, not again at the next.
  A stretch of consecutive modified records is one finding, seq..last_seq.

Then, with original seqs in stream order:

- a seq never met below the highest one met: **deleted** (one finding per missing range),
  whether the rows after it kept their seqs (a jump) or were renumbered to close the gap;
- a seq lower than the one before it: **reordered**. The record that jumped ahead is blamed
  when the record before the drop did not follow its own predecessor, else the late one; so
  a swap of two distant records reports exactly those two, a record moved yields one finding,
  and of two neighbours swapped the first stored is named (which of them moved cannot be told);
  a seq met twice is a copied record, also reported as reordered;
- a record that recomputes and directly follows its predecessor by seq, yet whose ``prev_hash``
  is not that predecessor's stored hash: the predecessor was replaced by one whose hash was
  recomputed (**modified**, at the predecessor);
- a checkpoint whose (seq, hash) differs from the record with that original seq: **rewritten**
  (edited, then every hash after recomputed so the chain is consistent again); one whose seq is
  beyond the chain's end: **truncated**, with the missing range; one whose signature fails:
  **forged_checkpoint**, and it is not used.

Limits, honestly: records after the last checkpoint can be dropped or rewritten without trace
(nothing vouches for them yet; checkpoint often). A record moved farther than WINDOW/SEARCH
positions by renumbering is reported as modified rather than reordered, and so are the rows
after a deletion of more than SEARCH records hidden by renumbering (as a range).
``offset`` is not hashed, so it is not protected.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from services.audit.domain.chain import GENESIS, Record, derived_matches, link
from services.audit.domain.checkpoint import Checkpoint, verify_checkpoint

Kind = Literal["modified", "deleted", "reordered", "truncated", "forged_checkpoint", "rewritten"]

WINDOW = 1024  # recent hashes remembered per chain, to recognise a moved record's predecessor
SEARCH = 64  # how far from its stored seq a renumbered record's original seq is looked for


@dataclass(frozen=True)
class Finding:
    kind: Kind
    topic: str | None  # None for a checkpoint that is not tied to one chain (forged)
    partition: int | None
    seq: int | None  # the stored seq to look at (for deleted/truncated: the first missing one)
    detail: str
    last_seq: int | None = None  # when the finding covers the records seq..last_seq


@dataclass
class Verification:
    records: int = 0
    chains: int = 0
    checkpoints: int = 0  # checkpoints with a valid signature, the ones the records were judged by
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(records: Iterable[Record], checkpoints: Iterable[Checkpoint],
           public_keys: Mapping[str, bytes]) -> Verification:
    """Judges the records against themselves and against the checkpoints signed by a known key.

    ``records`` must come chain by chain (ORDER BY topic, partition, seq); a chain that comes back
    after another has started is a caller's mistake, not tampering, and raises ValueError.
    """
    result = Verification()
    expected = _vouched(checkpoints, public_keys, result)
    chain: _Chain | None = None
    done: set[tuple[str, int]] = set()
    for r in records:
        if chain is None or r.partition != chain.partition or r.topic != chain.topic:
            if chain is not None:
                chain.finish()
                done.add((chain.topic, chain.partition))
            if (r.topic, r.partition) in done:
                raise ValueError(f"records of {r.topic}/{r.partition} arrive in two runs: "
                                 "stream them ordered by topic, partition, seq")
            chain = _Chain(r.topic, r.partition, expected.pop((r.topic, r.partition), {}),
                           result.findings)
            result.chains += 1
        chain.add(r)
        if r.derived is not None and not derived_matches(r.headers, r.derived):
            result.findings.append(Finding(
                "modified", r.topic, r.partition, r.seq,
                "its event_type, event_time or subject column (which the replay reads) no "
                "longer matches its hashed headers"))
        result.records += 1
    if chain is not None:
        chain.finish()
    for (topic, partition), marks in expected.items():  # chains checkpointed but not archived
        _Chain(topic, partition, marks, result.findings).finish()
    result.findings.sort(key=lambda f: (f.topic is not None, f.topic or "", f.partition or 0,
                                        f.seq or 0))
    return result


def _vouched(checkpoints: Iterable[Checkpoint], public_keys: Mapping[str, bytes],
             result: Verification) -> dict[tuple[str, int], dict[int, list[tuple[int, str]]]]:
    """(topic, partition) -> seq -> [(checkpoint number, hash)] from the validly signed ones."""
    expected: dict[tuple[str, int], dict[int, list[tuple[int, str]]]] = {}
    for cp in sorted(checkpoints, key=lambda c: c.number):
        reason = verify_checkpoint(cp, public_keys)
        if reason is not None:
            result.findings.append(Finding(
                "forged_checkpoint", None, None, None,
                f"checkpoint {cp.number} ({cp.at}): {reason}; not used to judge the records"))
            continue
        result.checkpoints += 1
        for h in cp.heads:
            expected.setdefault((h.topic, h.partition), {}).setdefault(h.seq, []).append(
                (cp.number, h.hash))
    return expected


def _relink(r: Record, seq: int) -> str | None:
    """The record's link as if it stood at ``seq``; None when a stored field is not even
    well-formed (a prev_hash that is not 64 hex digits, a negative seq)."""
    try:
        return link(r.prev_hash, r.topic, r.partition, seq, r.key, r.headers, r.value)
    except (ValueError, struct.error):
        return None


def _at(stored: int, original: int) -> str:
    return f"seq {stored}" if stored == original else f"seq {stored} (archived as seq {original})"


class _Chain:
    """The state of one chain while its records stream past."""

    def __init__(self, topic: str, partition: int, expected: dict[int, list[tuple[int, str]]],
                 findings: list[Finding]) -> None:
        self.topic, self.partition = topic, partition
        self.expected = expected  # checkpointed seqs not met yet
        self.findings = findings
        self.recent: OrderedDict[str, int] = OrderedDict()  # hash -> original seq
        # The previous record: original seq, stored seq, stored hash, whether its original seq
        # followed the one before it, whether it was already reported.
        self.last_t, self.last_s, self.last_hash = 0, 0, GENESIS
        self.last_follows, self.last_flagged = True, False
        self.top = 0  # the highest original seq met
        self.missing: list[list[int]] = []  # [first, last, renumbered] below top, not met yet
        self.matched: tuple[int, int] | None = None  # (seq, checkpoint) last found as signed

    def add(self, r: Record) -> None:
        s, flagged = r.seq, False
        if _relink(r, s) == r.hash:
            t = s
        else:
            original = self._original_seq(r)
            if original is None:
                self._flag("modified", s, "its content (or seq, or prev_hash) no longer "
                                             "matches its hash")
                t, flagged = s, True
            else:
                t = original
        follows = t == self.last_t + 1

        if follows and not flagged and r.prev_hash != self.last_hash and not self.last_flagged:
            if self.last_t == 0:
                self._flag("modified", s, "the chain's first record does not start from genesis")
                flagged = True
            else:
                self._flag("modified", self.last_s,
                           f"replaced (hash recomputed): seq {t} links to a different record, "
                           f"{r.prev_hash[:16]}…")

        if t > self.top:
            if t > self.top + 1:
                self.missing.append([self.top + 1, t - 1, int(t != s)])
            self.top = t
        elif not self._fill(t):
            self._flag("reordered", s, f"a second copy of the record archived as seq {t}")
            flagged = True
        elif t < self.last_t:
            if not self.last_follows and not self.last_flagged:  # it jumped ahead: blame it
                self._flag("reordered", self.last_s,
                           f"{_at(self.last_s, self.last_t)} is stored before seq {t}")
            else:
                self._flag("reordered", s, f"{_at(s, t)} is stored after seq {self.last_t}")
                flagged = True

        marks = self.expected.pop(t, None)
        if marks is not None and not flagged:
            self._judge(s, t, r.hash, marks)

        self.recent[r.hash] = t
        if len(self.recent) > WINDOW:
            self.recent.popitem(last=False)
        self.last_t, self.last_s, self.last_hash = t, s, r.hash
        self.last_follows, self.last_flagged = follows, flagged

    def _original_seq(self, r: Record) -> int | None:
        """The seq the record's stored hash was computed for, if not its stored seq."""
        if r.prev_hash == GENESIS:
            candidates: Iterable[int] = (1,)
        elif (before := self.recent.get(r.prev_hash)) is not None:
            candidates = (before + 1,)  # a hash has one successor: no other seq can fit
        elif self.last_flagged:
            return None  # amid damage already reported: do not pay the search on every record
        else:
            candidates = (c for k in range(1, SEARCH + 1) for c in (r.seq + k, r.seq - k))
        for t in candidates:
            if t >= 1 and t != r.seq and _relink(r, t) == r.hash:
                return t
        return None

    def _fill(self, t: int) -> bool:
        """Marks a late original seq as met; False when it was met before (a copy)."""
        for i, (first, last, renumbered) in enumerate(self.missing):
            if first <= t <= last:
                rest = [[a, b, renumbered] for a, b in ((first, t - 1), (t + 1, last)) if a <= b]
                self.missing[i:i + 1] = rest
                return True
        return False

    def _judge(self, s: int, t: int, stored: str, marks: list[tuple[int, str]]) -> None:
        for number, signed in marks:
            if stored == signed:
                self.matched = (t, number)
                continue
            since = ("" if self.matched is None else
                     f" after seq {self.matched[0]} (which matches checkpoint {self.matched[1]})")
            self._flag("rewritten", s,
                       f"checkpoint {number} signed {signed[:16]}… for seq {t}, the archive "
                       f"holds {stored[:16]}…: records were edited and re-hashed{since}")

    def _flag(self, kind: Kind, seq: int, detail: str, last_seq: int | None = None) -> None:
        last = self.findings[-1] if self.findings else None
        if (kind == "modified" and last is not None and last.kind == kind
                and last.topic == self.topic and last.partition == self.partition
                and (last.last_seq or last.seq) == seq - 1):
            # A damaged stretch is one finding, not one per record.
            self.findings[-1] = replace(last, last_seq=seq)
            return
        self.findings.append(Finding(kind, self.topic, self.partition, seq, detail, last_seq))

    def finish(self) -> None:
        for first, last, renumbered in self.missing:
            detail = f"seq {first}..{last} missing ({last - first + 1} record(s))"
            if renumbered:
                detail += "; the records after were renumbered to close the gap"
            self._flag("deleted", first, detail, last if last > first else None)
        beyond = [(seq, number) for seq, marks in self.expected.items() if seq > self.top
                  for number, _ in marks]
        if beyond:
            far, number = max(beyond)
            end = f"ends at seq {self.top}" if self.top else "holds none of this chain"
            self._flag("truncated", self.top + 1,
                       f"checkpoint {number} vouches for seq {far}; the archive {end}",
                       far if far > self.top + 1 else None)
