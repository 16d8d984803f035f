"""One line of a partner's bulk publication, read and judged on its own (pure).

Each line is one operation on one of the publishing department's records, named by the
department's own ``record_id``: ``upsert`` (insert, or replace what the department said before) or
``delete`` (the record no longer holds: a property sold, a deposit closed). A death or an
imprisonment is a record of its own kind. A line that cannot be applied is a ``Rejected`` with its
line number and the reason, and the other lines go on.

Reasons name the field and what is wrong, never the value: a partner's columns shifted by one put
a resident ID number in any field, and the reasons are stored and shown to administrators.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from services.verification.domain.partners import (
    GRADES,
    KINDS,
    MONEY_MEASURES,
    OWNER,
    SITUATIONS,
)
from shared.inputs import DuplicateMember, loads_unique, text_problem
from shared.resident_id import CHECK_CHARS, WEIGHTS

FIELDS = ("op", "record_id", "kind", "resident_id", "amount_fen", "grade", "as_of", "town_code",
          "situation")
# Kinds whose records must name the person's town of residence (a 9-digit code): a large medical
# bill of someone who has not applied becomes a lead for that town (proactive discovery).
TOWN_REQUIRED = frozenset({"large_medical_bill"})
# A CSV file must name these columns in its header; the others may be left out.
REQUIRED_COLUMNS = frozenset({"record_id", "kind", "resident_id", "as_of"})
MAX_LINE_BYTES = 16_384  # a record is ~200 bytes; a longer line is refused, never held whole
MAX_AMOUNT_FEN = 10**15
MAX_RECORD_ID = 100

_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,16}")
_TOWN = re.compile(r"[0-9]{9}")
_KNOWN = frozenset(FIELDS)
_FIELD_NAME = re.compile(r"[a-z_]{1,30}")  # an unknown field is named only if it looks like one

Pseudonymise = Callable[[str], str]  # resident ID number → person_ref (shared.pseudonym)


class Upsert(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made per line of files of millions of lines,
    # and a frozen dataclass took 1.7 µs to make against 0.3 µs (measured).
    line: int
    record_id: str
    kind: str
    person_ref: str  # the raw resident ID number never leaves this module
    amount_fen: int
    grade: int | None
    as_of: date
    town_code: str | None = None  # where the department says the person lives
    situation: str | None = None  # a parent's, for the situation kinds (partners.SITUATIONS)


@dataclass(frozen=True, slots=True)
class Delete:
    line: int
    record_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


Outcome = Upsert | Delete | Rejected


class FileRefused(ValueError):
    """The file as a whole cannot be read (a CSV header without the required columns)."""


class _Bad(ValueError):
    pass


def read_fields(department: str, line: int, fields: Mapping[str, object],
                pseudonymise: Pseudonymise) -> Outcome:
    """One line's fields (absent or None: not given) judged for ``department``."""
    try:
        return _read(department, line, fields, pseudonymise)
    except _Bad as exc:
        return Rejected(line, str(exc))


def ndjson_line(department: str, line: int, raw: bytes,
                pseudonymise: Pseudonymise) -> Outcome | None:
    """A line of an NDJSON file: one JSON object. None for a blank line, which is no record."""
    if not raw.strip():
        return None
    try:
        value = loads_unique(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Rejected(line, "not UTF-8 text")
    except DuplicateMember as exc:  # which one the department meant is not ours to guess
        return Rejected(line, str(exc))
    except json.JSONDecodeError as exc:  # its message gives the position, never the text
        return Rejected(line, f"not JSON: {exc.msg} at column {exc.colno}")
    except (ValueError, RecursionError):
        return Rejected(line, "not JSON")
    if not isinstance(value, dict):
        return Rejected(line, "not a JSON object")
    return read_fields(department, line, value, pseudonymise)


def judge_lines(department: str, columns: tuple[str, ...] | None, first: int,
                raws: Sequence[bytes | None], pseudonymise: Pseudonymise
                ) -> list[Outcome | None]:
    """Consecutive lines from line number ``first`` judged: NDJSON, or CSV under its header's
    ``columns``. A line given as None was longer than MAX_LINE_BYTES (not read whole)."""
    if columns is None:
        def judge(n: int, raw: bytes) -> Outcome | None:
            return ndjson_line(department, n, raw, pseudonymise)
    else:
        def judge(n: int, raw: bytes) -> Outcome | None:
            return csv_line(department, columns, n, raw, pseudonymise)
    return [Rejected(n, f"longer than {MAX_LINE_BYTES} bytes") if raw is None else judge(n, raw)
            for n, raw in enumerate(raws, first)]


def csv_header(raw: bytes) -> tuple[str, ...]:
    """The columns a CSV file's first line names; FileRefused saying why it cannot be used."""
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")  # Excel writes a BOM
        columns = tuple(c.strip() for c in next(csv.reader([text.rstrip("\r\n")], strict=True)))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise FileRefused("header: the first line must name the columns, in UTF-8") from None
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        named = ", ".join(c if _FIELD_NAME.fullmatch(c) else "(unnamed)" for c in unknown)
        raise FileRefused(f"header: unknown column(s) {named}; columns are {', '.join(FIELDS)}")
    if len(set(columns)) != len(columns):
        raise FileRefused("header: a column is named twice")
    if missing := REQUIRED_COLUMNS - set(columns):
        raise FileRefused(f"header: missing column(s) {', '.join(sorted(missing))}")
    return columns


def csv_line(department: str, columns: tuple[str, ...], line: int, raw: bytes,
             pseudonymise: Pseudonymise) -> Outcome | None:
    """A data line of a CSV file, under its header's ``columns``. Empty cells are absent fields;
    a field may not span lines. None for a blank line."""
    if not raw.strip():
        return None
    try:
        values = next(csv.reader([raw.decode("utf-8").rstrip("\r\n")], strict=True))
    except UnicodeDecodeError:
        return Rejected(line, "not UTF-8 text")
    except csv.Error:
        return Rejected(line, "not a CSV line (a quote not closed on this line?)")
    if len(values) != len(columns):
        return Rejected(line, f"{len(values)} values, but the header names {len(columns)} columns")
    fields: dict[str, object] = {}
    for name, value in zip(columns, values, strict=True):
        value = value.strip()
        if not value:
            continue
        if name in ("amount_fen", "grade"):
            if not _DIGITS.fullmatch(value):
                return Rejected(line, f"{name}: not a whole number")
            fields[name] = int(value)
        else:
            fields[name] = value
    return read_fields(department, line, fields, pseudonymise)


def _read(department: str, line: int, fields: Mapping[str, object],
          pseudonymise: Pseudonymise) -> Outcome:
    if not _KNOWN.issuperset(fields) and (unknown := [f for f in fields if f not in FIELDS]):
        named = ", ".join(f if _FIELD_NAME.fullmatch(f) else "(unnamed)" for f in unknown)
        raise _Bad(f"unknown field(s) {named}")
    op = fields.get("op") or "upsert"
    if op not in ("upsert", "delete"):
        raise _Bad("op: must be upsert or delete")
    record_id = fields.get("record_id")
    if not isinstance(record_id, str) or not 0 < len(record_id.strip()) <= MAX_RECORD_ID:
        raise _Bad(f"record_id: required, 1 to {MAX_RECORD_ID} characters")
    record_id = record_id.strip()
    if problem := text_problem(record_id):  # a NUL or an ESC ends up in the audit's exports
        raise _Bad(f"record_id: {problem}")
    kind = fields.get("kind")
    if op == "delete" and kind is None:
        return Delete(line, record_id)  # the record is the department's own by its id
    if not isinstance(kind, str) or kind not in KINDS:
        raise _Bad("kind: required, one of the registry's kinds" if kind is None
                   else "kind: not a kind any department publishes")
    if OWNER[kind] != department:
        raise _Bad(f"kind: {kind} is published by {OWNER[kind]}, not {department}")
    if op == "delete":
        return Delete(line, record_id)
    measure = KINDS[kind].measure
    amount = _whole(fields.get("amount_fen"), "amount_fen", 0, MAX_AMOUNT_FEN)
    if measure in MONEY_MEASURES and amount is None:
        raise _Bad(f"amount_fen: required for {kind}, whole fen from 0 to {MAX_AMOUNT_FEN}")
    if measure not in MONEY_MEASURES and amount:
        raise _Bad(f"amount_fen: {kind} carries no amount")
    grade = _whole(fields.get("grade"), "grade", GRADES.start, GRADES.stop - 1)
    if (measure == "grade") != (grade is not None):
        raise _Bad(f"grade: required for {kind}, 1 to 4" if measure == "grade"
                   else f"grade: {kind} carries no grade")
    town = fields.get("town_code")
    if town is None and kind in TOWN_REQUIRED:
        raise _Bad(f"town_code: required for {kind}, the town of residence (9 digits)")
    if town is not None and not (isinstance(town, str) and _TOWN.fullmatch(town.strip())):
        raise _Bad("town_code: a town code of 9 digits")
    situation = fields.get("situation")
    if measure == "situation":
        if not (isinstance(situation, str) and situation.strip() in SITUATIONS):
            raise _Bad(f"situation: required for {kind}, one of {', '.join(SITUATIONS)}")
        situation = situation.strip()
    elif situation is not None:
        raise _Bad(f"situation: {kind} carries no situation")
    return Upsert(line, record_id, kind, pseudonymise(_resident_id(fields.get("resident_id"))),
                  amount or 0, grade, _as_of(fields.get("as_of")),
                  town.strip() if isinstance(town, str) else None, situation)


def _whole(value: object, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Bad(f"{name}: a whole number from {low} to {high}")
    return value


def _resident_id(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad("resident_id: required for an upsert")
    number = value.strip().upper()
    if not _RESIDENT_ID.fullmatch(number):
        raise _Bad("resident_id: must be 17 digits followed by a digit or X")
    # The weighted sum of the 17 digits, three at a time from tables (hot path: a third of the
    # time of summing digit by digit, measured).
    a, b, c, d, e, f = _WEIGHED_THREES
    total = (a[number[0:3]] + b[number[3:6]] + c[number[6:9]] + d[number[9:12]]
             + e[number[12:15]] + f[number[15:17]])
    if number[17] != CHECK_CHARS[total % 11]:
        raise _Bad("resident_id: the check character does not match the number")
    return number


def _weighed(weights: tuple[int, ...]) -> dict[str, int]:
    """Every string of len(weights) digits → the sum of its digits times the weights."""
    width = len(weights)
    return {f"{n:0{width}d}": sum(int(digit) * w for digit, w in zip(f"{n:0{width}d}", weights,
                                                                    strict=True))
            for n in range(10**width)}


_WEIGHED_THREES = tuple(_weighed(WEIGHTS[i:i + 3]) for i in range(0, 17, 3))


def _as_of(value: object) -> date:
    if not isinstance(value, str):
        raise _Bad("as_of: required, a date as YYYY-MM-DD")
    return _day(value)


@lru_cache(maxsize=4096)  # a file's records share a few dates; errors are not cached
def _day(value: str) -> date:
    if not _DATE.fullmatch(value.strip()):
        raise _Bad("as_of: required, a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _Bad("as_of: not a real date") from None
