"""A case's timeline as the case page shows it: one line per event, in order, none twice, each
as a code with its figures so that the page words it in the reader's language.

Two services tell the story. Intake keeps a line for every event of the case (its timeline),
written "中文 English" with the figures (services/intake/service_layer/summaries.py); approval
keeps every stage move with who made it and the note they typed (its history). Each stage move
is in both: it is shown once, intake's line (which has the time limit) with approval's actor
and note. Approval's moves that intake has not recorded yet are added; without approval (down)
intake's lines stand alone, saying a note is on file.

Intake's lines are read back into codes by the known shape of each (``lines.py``): the window
then words them in one language (intake stores them in both, and other readers use them so).
A line of a shape not known here is split by script, never dropped.

Order: by time, then by approval's sequence. One exception, by logic rather than clock: the
case waits for its verification report from the moment it is received. Approval opens the case
when the application reaches it, which can be after verification has already reported (each
consumes the application on its own); its first move is shown with the receipt, not after the
report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.window.domain.lines import STAGE_CHANGED, SUBMITTED, Said, explanation, parse
from shared import clock


@dataclass(frozen=True)
class Entry:
    at: datetime
    said: Said
    action: str | None = None  # approval's code of the move's action (pre_assessed, accept…)
    actor: str | None = None  # "role:staff id", or "system:onedoor"
    note: str | None = None  # typed by staff: from approval, to readers entitled to the case
    sequence: int = 0  # approval's, for a stage move

    @property
    def note_on_file(self) -> bool:
        """A note exists that this page does not have (approval did not answer)."""
        return self.note is None and bool(self.said.params.get("note_on_file"))


def moment(value: object) -> datetime:
    """A service's ISO moment, as UTC (the databases return naive UTC)."""
    if isinstance(value, datetime):
        return clock.as_utc(value)
    return clock.as_utc(datetime.fromisoformat(str(value)))


def build(lines: Sequence[Mapping[str, Any]],
          history: Sequence[Mapping[str, Any]] | None) -> list[Entry]:
    """Intake's ``timeline`` and approval's ``history`` (None when approval did not answer)."""
    moves = sorted(history or (), key=lambda h: int(h["sequence"]))
    matched: set[int] = set()
    entries: list[Entry] = []
    received: datetime | None = None
    for line in lines:
        said, at = parse(str(line["event_type"]), str(line["summary"])), moment(line["at"])
        if line["event_type"] == SUBMITTED and received is None:
            received = at
        if line["event_type"] != STAGE_CHANGED:
            entries.append(Entry(at, said))
            continue
        index = _match(moves, matched, said.params.get("stage"))
        if index is None:
            entries.append(Entry(at, said))
            continue
        matched.add(index)
        move = moves[index]
        entries.append(Entry(at, said, move.get("action"), move.get("actor"), move.get("note"),
                             int(move["sequence"])))
    for index, move in enumerate(moves):
        if index not in matched:  # approval is ahead of intake: the move from approval alone
            entries.append(Entry(moment(move["at"]), Said(
                "stage", {"stage": str(move["to_stage"])},
                explanation(move.get("explanation"))), move.get("action"), move.get("actor"),
                move.get("note"), int(move["sequence"])))
    return sorted((_logical(e, received) for e in entries), key=lambda e: (e.at, e.sequence))


def _match(moves: Sequence[Mapping[str, Any]], matched: set[int],
           stage: object) -> int | None:
    """The first move not yet matched to a line, if it goes to ``stage``: intake records a
    case's moves in approval's order, so a later one never stands for an earlier one."""
    for index, move in enumerate(moves):
        if index in matched:
            continue
        return index if move["to_stage"] == stage else None
    return None


def _logical(entry: Entry, received: datetime | None) -> Entry:
    opening = entry.sequence == 1 or (entry.sequence == 0 and entry.said.kind == "stage"
                                      and entry.said.params.get("stage") == "awaiting_report")
    if opening and received is not None and entry.at > received:
        # Shown with the receipt (see above); sequence 1 after the receipt's 0.
        return replace(entry, at=received, sequence=max(entry.sequence, 1))
    return entry
