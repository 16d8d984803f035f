"""What both bank files are made of: records in order (one header, lines, one trailer), the
checks on each cell, and the problems that refuse a whole file."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TypeGuard

VERSION = "1"
MAX_REASON_CHARS = 200
MAX_BANK_REFERENCE_CHARS = 80  # payments.bank_reference is String(80)
_MAX_PROBLEMS = 100  # a garbled million-line file must not become a million-line error message

AMOUNT = re.compile(r"[0-9]{1,15}")  # ASCII digits only: int() would also take " 5", "+5", "٥"
_COUNT = re.compile(r"[0-9]{1,18}")
# Cells a spreadsheet would evaluate as a formula (OWASP "CSV injection").
FORMULA_STARTERS = ("=", "+", "-", "@")
# Control and format characters (line breaks, bidi overrides) and line/paragraph separators
# have no place in a name or an identifier. Private-use characters stay allowed: legacy
# systems encode rare characters of Chinese names (生僻字) there.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


class FileRefused(ValueError):
    """The file as a whole cannot be trusted (header, trailer or control totals); apply nothing."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class LineRefused(ValueError):
    """A line that must not be written (bad amount, account or text); the file is incomplete."""

    def __init__(self, payment_id: str, reason: str) -> None:
        super().__init__(f"payment {payment_id}: {reason}")
        self.payment_id = payment_id
        self.reason = reason


class Problems:
    """File-level problems, capped (see _MAX_PROBLEMS)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, problem: str) -> None:
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(problem)
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.items:
            more = [f"... and {self.more} more problems"] if self.more else []
            raise FileRefused(self.items + more)


def records(lines: Iterable[str], problems: Problems) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, H/D/T, fields) for each record, noting problems of order: one header
    first, one trailer last. Blank lines are skipped; a leading byte-order mark (a spreadsheet
    that re-saved the file) is tolerated."""
    reader = csv.reader(_without_bom(lines), strict=True)
    seen_trailer = seen_any = False
    try:
        for row in reader:
            if not row:
                continue
            line_no, kind = reader.line_num, row[0]
            if seen_trailer:
                problems.add(f"line {line_no}: content after the trailer")
            elif kind == "H" and seen_any:
                problems.add(f"line {line_no}: a header that is not the first record")
            elif kind not in ("H", "D", "T"):
                problems.add(f"line {line_no}: unknown record type {kind!r}")
            else:
                if kind != "H" and not seen_any:
                    problems.add(f"line {line_no}: the file does not start with a header")
                seen_trailer = kind == "T"
                seen_any = True
                yield line_no, kind, row
    except csv.Error as error:
        problems.add(f"line {reader.line_num}: not readable as CSV ({error})")
        return  # the rest is unread: "no trailer" would only mislead
    if not seen_any:
        problems.add("the file has no records")
    elif not seen_trailer:
        problems.add("no trailer: the file is truncated")


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        yield line.removeprefix("\ufeff") if first else line
        first = False


def header_ok(row: list[str], fields: int, file_format: str, line_no: int,
              problems: Problems) -> bool:
    if len(row) != fields:
        problems.add(f"line {line_no}: header has {len(row)} fields, expected {fields}")
        return False
    ok = True
    if row[1] != file_format:
        problems.add(f"line {line_no}: format {row[1]!r}, expected {file_format}")
        ok = False
    if row[2] != VERSION:
        problems.add(f"line {line_no}: version {row[2]!r}, expected {VERSION}")
        ok = False
    if not row[3] or not row[4]:
        problems.add(f"line {line_no}: header without a file id or bank code")
        ok = False
    return ok


def trailer_counts(row: list[str], fields: int, line_no: int,
                   problems: Problems) -> list[int] | None:
    if len(row) != fields:
        problems.add(f"line {line_no}: trailer has {len(row)} fields, expected {fields}")
        return None
    return whole_numbers(row[1:], line_no, problems, "trailer")


def whole_numbers(values: list[str], line_no: int, problems: Problems,
                  what: str) -> list[int] | None:
    if not all(_COUNT.fullmatch(value) for value in values):
        problems.add(f"line {line_no}: {what} {values!r} are not all whole numbers")
        return None
    return [int(value) for value in values]


def text_problem(value: str) -> str | None:
    """Refuse rather than rewrite: a quote-prefixed name would no longer match the name on the
    account at the bank, and no real name starts with = + - @ or has a line break in it."""
    if not value:
        return "empty"
    if value != value.strip():
        return "leading or trailing spaces"
    if value.startswith(FORMULA_STARTERS):
        return f"starts with {value[0]!r}, which a spreadsheet would run as a formula"
    # isprintable() is a fast pass for nearly every value; it is stricter than we need (it also
    # rejects private-use characters and the ideographic space), so look closer when it fails.
    if not value.isprintable() and any(
            unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        return "contains a control character or line break"
    return None


def amount_problem(amount_fen: object) -> str | None:
    if not is_int(amount_fen):
        return "amount must be integer fen"
    if amount_fen <= 0:
        return "amount must be positive"
    return None


def outcome_problem(outcome: str, reason: str) -> str | None:
    if outcome not in ("PAID", "FAILED"):
        return f"unknown outcome {outcome!r} (PAID or FAILED)"
    if outcome == "FAILED" and not reason.strip():
        return "FAILED without a reason"
    if outcome == "PAID" and reason:
        return "PAID with a reason"
    if len(reason) > MAX_REASON_CHARS:
        return f"reason longer than {MAX_REASON_CHARS} characters"
    return None


def reference_problem(reference: str) -> str | None:
    if len(reference) > MAX_BANK_REFERENCE_CHARS:
        return f"bank reference longer than {MAX_BANK_REFERENCE_CHARS} characters"
    return None


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
