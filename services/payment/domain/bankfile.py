"""Bank files (银行代发文件): the disbursement file a bank pays from and the result it sends back.

Both are CSV written by the ``csv`` module, UTF-8 without a byte-order mark, each record ending
in CRLF (RFC 4180 and what bank and spreadsheet software expect). Open files with
``newline=""`` so the csv module alone decides line endings. Every file is a header (H), payment
lines (D) and a trailer (T) whose count and totals let both sides see a truncated or altered
file. The layouts are documented in docs/BANK_FILES.md; amounts are always integer fen.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TextIO

DISBURSEMENT_FORMAT = "ONEDOOR-DISB"
RESULT_FORMAT = "ONEDOOR-RESULT"
VERSION = "1"
MAX_REASON_CHARS = 200
MAX_BANK_REFERENCE_CHARS = 80  # payments.bank_reference is String(80)
_MAX_PROBLEMS = 100  # a garbled million-line file must not become a million-line error message

_ACCOUNT = re.compile(r"[0-9]{1,40}")
_AMOUNT = re.compile(r"[0-9]{1,15}")  # ASCII digits only: int() would also take " 5", "+5", "٥"
_COUNT = re.compile(r"[0-9]{1,18}")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
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


class ControlTotalMismatch(ValueError):
    """The lines written do not add up to the count and total the header promised."""

    def __init__(self, expected: tuple[int, int], actual: tuple[int, int]) -> None:
        super().__init__(f"expected {expected[0]} lines totalling {expected[1]} fen, "
                         f"wrote {actual[0]} lines totalling {actual[1]} fen")
        self.expected = expected
        self.actual = actual


class LineRefused(ValueError):
    """A line that must not be written (bad amount, account or text); the file is incomplete."""

    def __init__(self, payment_id: str, reason: str) -> None:
        super().__init__(f"payment {payment_id}: {reason}")
        self.payment_id = payment_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BankLine:
    payment_id: str
    account_number: str
    holder_name: str
    amount_fen: int
    programme: str
    period: str  # YYYY-MM


@dataclass(frozen=True)
class DisbursementHeader:
    file_id: str
    bank_code: str
    cycle_id: str | None
    created_at: datetime
    record_count: int
    total_fen: int


@dataclass(frozen=True)
class DisbursementFile:
    file_id: str
    bank_code: str
    cycle_id: str | None
    created_at: datetime
    record_count: int
    total_fen: int
    lines: list[BankLine]


@dataclass(frozen=True, slots=True)
class ResultLine:
    line_no: int  # the physical line in the file; the header is line 1
    payment_id: str
    amount_fen: int
    outcome: Literal["paid", "failed"]
    reason: str | None
    bank_reference: str | None


@dataclass(frozen=True)
class LineProblem:
    line_no: int
    payment_id: str | None
    reason: str


@dataclass(frozen=True)
class ResultFile:
    file_id: str
    bank_code: str
    lines: list[ResultLine]  # only lines without any problem
    problems: list[LineProblem]  # one per rejected line, its reasons joined by "; "


# --- writing -------------------------------------------------------------------------------


def write_disbursement(out: TextIO, *, file_id: str, bank_code: str, cycle_id: str | None,
                       created_at: datetime, record_count: int, total_fen: int,
                       lines: Iterable[BankLine]) -> None:
    """Stream a disbursement file, one line at a time. The header's count and total come from
    the caller's SQL; if the lines do not add up to them, ``ControlTotalMismatch`` is raised
    *before* the trailer is written, so a file the caller forgets to discard is still refused
    by any reader as truncated. ``LineRefused`` likewise leaves the file without a trailer."""
    if created_at.utcoffset() is None:
        raise ValueError("created_at needs a UTC offset: a bank reads the file in its own zone")
    for name, value in (("file_id", file_id), ("bank_code", bank_code), ("cycle_id", cycle_id)):
        if value is not None and (problem := _text_problem(value)):
            raise ValueError(f"{name}: {problem}")
    if not (_is_int(record_count) and _is_int(total_fen) and min(record_count, total_fen) >= 0):
        raise ValueError("record_count and total_fen must be non-negative integers")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["H", DISBURSEMENT_FORMAT, VERSION, file_id, bank_code, cycle_id or "",
                     created_at.isoformat(timespec="seconds"), record_count, total_fen])
    count = total = 0
    for line in lines:
        if problem := _bank_line_problem(line):
            raise LineRefused(line.payment_id, problem)
        count += 1
        total += line.amount_fen
        writer.writerow(["D", count, line.payment_id, line.account_number, line.holder_name,
                         line.amount_fen, line.programme, line.period])
    if (count, total) != (record_count, total_fen):
        raise ControlTotalMismatch((record_count, total_fen), (count, total))
    writer.writerow(["T", record_count, total_fen])


def write_results(out: TextIO, *, file_id: str, bank_code: str,
                  lines: Iterable[tuple[str, int, str, str | None, str | None]]) -> None:
    """Write a result file from (payment_id, amount_fen, "PAID"|"FAILED", reason,
    bank_reference). For the bank simulator and tests: it holds the lines, since the header
    carries their count."""
    rows = list(lines)
    sums = {"PAID": [0, 0], "FAILED": [0, 0]}
    for payment_id, amount_fen, outcome, reason, reference in rows:
        problem = (_text_problem(payment_id) or _amount_problem(amount_fen)
                   or _outcome_problem(outcome, reason or "")
                   or (reason and _text_problem(reason))
                   or (reference and _reference_problem(reference)))
        if problem:
            raise LineRefused(payment_id, problem)
        sums[outcome][0] += 1
        sums[outcome][1] += amount_fen
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["H", RESULT_FORMAT, VERSION, file_id, bank_code, len(rows)])
    for payment_id, amount_fen, outcome, reason, reference in rows:
        writer.writerow(["D", payment_id, amount_fen, outcome, reason or "", reference or ""])
    writer.writerow(["T", len(rows), *sums["PAID"], *sums["FAILED"]])


# --- reading a disbursement file -----------------------------------------------------------


def read_disbursement(lines: Iterable[str],
                      on_line: Callable[[BankLine], None]) -> DisbursementHeader:
    """Check a disbursement file in bounded memory, handing each valid line to ``on_line`` as
    it is read (e.g. to re-read a file from disk before it goes to the bank). Raises
    ``FileRefused`` after the last line if anything is wrong, so act on the lines only once
    this returns. Duplicate payment ids are not checked here: that needs every id in memory."""
    problems = _Problems()
    header: DisbursementHeader | None = None
    trailer: list[int] | None = None
    count = total = 0
    for line_no, kind, row in _records(lines, problems):
        if kind == "H":
            header = _disbursement_header(row, line_no, problems)
        elif kind == "T":
            trailer = _trailer(row, 3, line_no, problems)
        else:
            count += 1
            line = _disbursement_line(row, line_no, count, problems)
            if line is not None:
                total += line.amount_fen
                on_line(line)
    if header is not None and (header.record_count, header.total_fen) != (count, total):
        problems.add(f"header says {header.record_count} lines totalling {header.total_fen} "
                     f"fen; the file has {count} lines, the valid ones totalling {total} fen")
    if trailer is not None and tuple(trailer) != (count, total):
        problems.add(f"trailer says {trailer[0]} lines totalling {trailer[1]} fen; the file "
                     f"has {count} lines, the valid ones totalling {total} fen")
    problems.raise_if_any()
    assert header is not None  # a missing header is a problem, raised above
    return header


def parse_disbursement(lines: Iterable[str]) -> DisbursementFile:
    """Read a whole disbursement file (the bank simulator, tests); refuse it with every problem
    found, including a payment id that appears twice (it would be paid twice)."""
    read: list[BankLine] = []
    try:
        header = read_disbursement(lines, read.append)
        problems: list[str] = []
    except FileRefused as refused:
        problems = list(refused.problems)
    ids = Counter(line.payment_id for line in read)
    problems += [f"payment {pid} appears {n} times" for pid, n in ids.items() if n > 1]
    if problems:
        raise FileRefused(problems)
    return DisbursementFile(file_id=header.file_id, bank_code=header.bank_code,
                            cycle_id=header.cycle_id, created_at=header.created_at,
                            record_count=header.record_count, total_fen=header.total_fen,
                            lines=read)


def _disbursement_header(row: list[str], line_no: int,
                         problems: _Problems) -> DisbursementHeader | None:
    if not _header_ok(row, 9, DISBURSEMENT_FORMAT, line_no, problems):
        return None
    counts = _ints(row[7:], line_no, problems, "header counts")
    try:
        created_at = datetime.fromisoformat(row[6])
    except ValueError:
        created_at = None
    if created_at is None or created_at.utcoffset() is None:
        problems.add(f"line {line_no}: created_at {row[6]!r} is not ISO 8601 with an offset")
    if counts is None or created_at is None:
        return None
    return DisbursementHeader(file_id=row[3], bank_code=row[4], cycle_id=row[5] or None,
                              created_at=created_at, record_count=counts[0], total_fen=counts[1])


def _disbursement_line(row: list[str], line_no: int, seq: int,
                       problems: _Problems) -> BankLine | None:
    if len(row) != 8:
        problems.add(f"line {line_no}: expected 8 fields, found {len(row)}")
        return None
    if row[1] != str(seq):
        problems.add(f"line {line_no}: sequence number {row[1]!r}, expected {seq}")
    if not _AMOUNT.fullmatch(row[5]):
        problems.add(f"line {line_no}: amount {row[5]!r} is not a whole number of fen")
        return None
    line = BankLine(payment_id=row[2], account_number=row[3], holder_name=row[4],
                    amount_fen=int(row[5]), programme=row[6], period=row[7])
    if problem := _bank_line_problem(line):
        problems.add(f"line {line_no}: {problem}")
        return None
    return line


# --- reading a result file -----------------------------------------------------------------


def parse_results(lines: Iterable[str]) -> ResultFile:
    """Read a bank's result file. A missing or garbled header or trailer, or a trailer that
    does not match the lines, refuses the whole file (``FileRefused``): it is truncated or
    altered and nothing in it should be applied. A bad payment line is rejected on its own
    (a ``LineProblem``) and the other lines still count.

    The trailer is checked against what the lines can tell: its record count against every D
    line, valid or not; its paid and failed counts and totals against every line whose amount
    and outcome can be read, even one rejected for another reason (a missing reason, a
    duplicate), since the bank counted those too. Lines whose amount or outcome cannot be read
    must make up exactly the rest: each is one line of some positive amount. With no such lines
    the check is exact."""
    problems = _Problems()
    header: tuple[str, str, int] | None = None  # file id, bank code, record count
    trailer: list[int] | None = None
    d_lines = unreadable = 0
    readable = {"paid": [0, 0], "failed": [0, 0]}
    candidates: list[ResultLine] = []
    reasons: dict[int, tuple[str | None, list[str]]] = {}  # line_no -> (payment_id, reasons)
    seen: dict[str, list[int]] = {}
    for line_no, kind, row in _records(lines, problems):
        if kind == "H":
            header = _result_header(row, line_no, problems)
        elif kind == "T":
            trailer = _trailer(row, 6, line_no, problems)
        else:
            d_lines += 1
            payment_id = row[1] if len(row) > 1 and row[1] else None
            if payment_id is not None:  # even from a malformed line: the bank meant something
                seen.setdefault(payment_id, []).append(line_no)
            line, line_reasons = _result_line(row, line_no)
            if line is None:
                unreadable += 1
            else:
                readable[line.outcome][0] += 1
                readable[line.outcome][1] += line.amount_fen
                if not line_reasons:
                    candidates.append(line)
            if line_reasons:
                reasons[line_no] = (payment_id, line_reasons)
    if header is not None and header[2] != d_lines:
        problems.add(f"header says {header[2]} lines; the file has {d_lines}")
    if trailer is not None:
        _check_result_trailer(trailer, d_lines, unreadable, readable, problems)
    problems.raise_if_any()
    assert header is not None
    for payment_id, line_nos in seen.items():
        if len(line_nos) > 1:  # which one did the bank mean? Neither is applied.
            for line_no in line_nos:
                others = ", ".join(str(n) for n in line_nos if n != line_no)
                reasons.setdefault(line_no, (payment_id, []))[1].append(
                    f"payment {payment_id} appears more than once (also on line {others})")
    return ResultFile(
        file_id=header[0], bank_code=header[1],
        lines=[line for line in candidates if line.line_no not in reasons],
        problems=[LineProblem(n, pid, "; ".join(rs)) for n, (pid, rs) in sorted(reasons.items())])


def _result_header(row: list[str], line_no: int,
                   problems: _Problems) -> tuple[str, str, int] | None:
    if not _header_ok(row, 6, RESULT_FORMAT, line_no, problems):
        return None
    count = _ints(row[5:], line_no, problems, "header record count")
    return None if count is None else (row[3], row[4], count[0])


def _result_line(row: list[str], line_no: int) -> tuple[ResultLine | None, list[str]]:
    """The line if its amount and outcome can be read (even if rejected), and its problems."""
    if len(row) != 6:
        return None, [f"expected 6 fields, found {len(row)}"]
    _, payment_id, amount, outcome, reason, reference = row
    reasons = [] if payment_id else ["no payment id"]
    amount_ok = bool(_AMOUNT.fullmatch(amount)) and int(amount) > 0
    if not amount_ok:
        reasons.append(f"amount {amount!r} is not a positive whole number of fen")
    if outcome not in ("PAID", "FAILED"):
        reasons.append(f"unknown outcome {outcome!r} (PAID or FAILED)")
    elif amount_ok:
        if problem := _outcome_problem(outcome, reason):
            reasons.append(problem)
        if reference and (problem := _reference_problem(reference)):
            reasons.append(problem)
        line = ResultLine(line_no=line_no, payment_id=payment_id, amount_fen=int(amount),
                          outcome="paid" if outcome == "PAID" else "failed",
                          reason=reason if outcome == "FAILED" else None,
                          bank_reference=reference or None)
        return line, reasons
    return None, reasons


def _check_result_trailer(trailer: list[int], d_lines: int, unreadable: int,
                          readable: dict[str, list[int]], problems: _Problems) -> None:
    record_count, paid_count, paid_total, failed_count, failed_total = trailer
    if record_count != d_lines:
        problems.add(f"trailer says {record_count} lines; the file has {d_lines}")
    if paid_count + failed_count != record_count:
        problems.add(f"trailer's paid ({paid_count}) and failed ({failed_count}) lines do not "
                     f"add up to its {record_count} lines")
    for outcome, count, total in (("paid", paid_count, paid_total),
                                  ("failed", failed_count, failed_total)):
        # What the unreadable lines would have to account for: n lines of at least 1 fen each.
        missing_count = count - readable[outcome][0]
        missing_total = total - readable[outcome][1]
        if (missing_count < 0 or missing_total < missing_count
                or (missing_count == 0 and missing_total != 0)):
            problems.add(f"trailer says {count} {outcome} lines totalling {total} fen; the "
                         f"readable lines have {readable[outcome][0]} totalling "
                         f"{readable[outcome][1]} fen ({unreadable} unreadable)")


# --- shared --------------------------------------------------------------------------------


class _Problems:
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


def _records(lines: Iterable[str], problems: _Problems) -> Iterator[tuple[int, str, list[str]]]:
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


def _header_ok(row: list[str], fields: int, file_format: str, line_no: int,
               problems: _Problems) -> bool:
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


def _trailer(row: list[str], fields: int, line_no: int, problems: _Problems) -> list[int] | None:
    if len(row) != fields:
        problems.add(f"line {line_no}: trailer has {len(row)} fields, expected {fields}")
        return None
    return _ints(row[1:], line_no, problems, "trailer")


def _ints(values: list[str], line_no: int, problems: _Problems, what: str) -> list[int] | None:
    if not all(_COUNT.fullmatch(value) for value in values):
        problems.add(f"line {line_no}: {what} {values!r} are not all whole numbers")
        return None
    return [int(value) for value in values]


def _bank_line_problem(line: BankLine) -> str | None:
    if problem := _amount_problem(line.amount_fen):
        return problem
    if not _ACCOUNT.fullmatch(line.account_number):
        return "account number must be digits only"
    if not _PERIOD.fullmatch(line.period):
        return f"period {line.period!r} is not YYYY-MM"
    for name, value in (("payment id", line.payment_id), ("holder name", line.holder_name),
                        ("programme", line.programme)):
        if problem := _text_problem(value):
            return f"{name}: {problem}"
    return None


def _text_problem(value: str) -> str | None:
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


def _amount_problem(amount_fen: object) -> str | None:
    if not _is_int(amount_fen):
        return "amount must be integer fen"
    if amount_fen <= 0:  # type: ignore[operator]
        return "amount must be positive"
    return None


def _outcome_problem(outcome: str, reason: str) -> str | None:
    if outcome not in ("PAID", "FAILED"):
        return f"unknown outcome {outcome!r} (PAID or FAILED)"
    if outcome == "FAILED" and not reason.strip():
        return "FAILED without a reason"
    if outcome == "PAID" and reason:
        return "PAID with a reason"
    if len(reason) > MAX_REASON_CHARS:
        return f"reason longer than {MAX_REASON_CHARS} characters"
    return None


def _reference_problem(reference: str) -> str | None:
    if len(reference) > MAX_BANK_REFERENCE_CHARS:
        return f"bank reference longer than {MAX_BANK_REFERENCE_CHARS} characters"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
