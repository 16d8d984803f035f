"""The disbursement file (代发文件) OneDoor writes for a bank to pay from, and its reading back
(the bank simulator, and a file re-read from disk before it goes to the bank)."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from services.payment.domain.bankfile.cells import (
    AMOUNT,
    VERSION,
    FileRefused,
    LineRefused,
    Problems,
    amount_problem,
    header_ok,
    is_int,
    records,
    text_problem,
    trailer_counts,
    whole_numbers,
)

DISBURSEMENT_FORMAT = "ONEDOOR-DISB"
_ACCOUNT = re.compile(r"[0-9]{1,40}")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


class ControlTotalMismatch(ValueError):
    """The lines written do not add up to the count and total the header promised."""

    def __init__(self, expected: tuple[int, int], actual: tuple[int, int]) -> None:
        super().__init__(f"expected {expected[0]} lines totalling {expected[1]} fen, "
                         f"wrote {actual[0]} lines totalling {actual[1]} fen")
        self.expected = expected
        self.actual = actual


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


def write_disbursement(out: TextIO, *, file_id: str, bank_code: str, cycle_id: str | None,
                       created_at: datetime, record_count: int, total_fen: int,
                       lines: Iterable[BankLine]) -> None:
    """Write a disbursement file to ``out`` (``disbursement_chunks``, written as they come)."""
    for chunk in disbursement_chunks(file_id=file_id, bank_code=bank_code, cycle_id=cycle_id,
                                     created_at=created_at, record_count=record_count,
                                     total_fen=total_fen, lines=lines):
        out.write(chunk)


CHUNK_CHARS = 1 << 16  # what a download sends at a time: a few hundred lines


def disbursement_chunks(*, file_id: str, bank_code: str, cycle_id: str | None,
                        created_at: datetime, record_count: int, total_fen: int,
                        lines: Iterable[BankLine]) -> Iterator[str]:
    """A disbursement file as text chunks, one line at a time into each: a generator, so that
    whoever reads it (a download, a file on disk) drives it, and one who stops reading stops
    it. The header's count and total come from the caller's SQL; if the lines do not add up to
    them, ``ControlTotalMismatch`` is raised *before* the trailer is yielded, so a file the
    caller forgets to discard is still refused by any reader as truncated. ``LineRefused``
    likewise leaves the file without a trailer."""
    if created_at.utcoffset() is None:
        raise ValueError("created_at needs a UTC offset: a bank reads the file in its own zone")
    for name, value in (("file_id", file_id), ("bank_code", bank_code), ("cycle_id", cycle_id)):
        if value is not None and (problem := text_problem(value)):
            raise ValueError(f"{name}: {problem}")
    if not (is_int(record_count) and is_int(total_fen) and min(record_count, total_fen) >= 0):
        raise ValueError("record_count and total_fen must be non-negative integers")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["H", DISBURSEMENT_FORMAT, VERSION, file_id, bank_code, cycle_id or "",
                     created_at.isoformat(timespec="seconds"), record_count, total_fen])
    count = total = 0
    for line in lines:
        if problem := _bank_line_problem(line):
            yield buffer.getvalue()  # what was written goes out, still without its trailer
            raise LineRefused(line.payment_id, problem)
        count += 1
        total += line.amount_fen
        writer.writerow(["D", count, line.payment_id, line.account_number, line.holder_name,
                         line.amount_fen, line.programme, line.period])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if (count, total) != (record_count, total_fen):
        yield buffer.getvalue()
        raise ControlTotalMismatch((record_count, total_fen), (count, total))
    writer.writerow(["T", record_count, total_fen])
    yield buffer.getvalue()


def read_disbursement(lines: Iterable[str],
                      on_line: Callable[[BankLine], None]) -> DisbursementHeader:
    """Check a disbursement file in bounded memory, handing each valid line to ``on_line`` as
    it is read (e.g. to re-read a file from disk before it goes to the bank). Raises
    ``FileRefused`` after the last line if anything is wrong, so act on the lines only once
    this returns. Duplicate payment ids are not checked here: that needs every id in memory."""
    problems = Problems()
    header: DisbursementHeader | None = None
    trailer: list[int] | None = None
    count = total = 0
    for line_no, kind, row in records(lines, problems):
        if kind == "H":
            header = _disbursement_header(row, line_no, problems)
        elif kind == "T":
            trailer = trailer_counts(row, 3, line_no, problems)
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
                         problems: Problems) -> DisbursementHeader | None:
    if not header_ok(row, 9, DISBURSEMENT_FORMAT, line_no, problems):
        return None
    counts = whole_numbers(row[7:], line_no, problems, "header counts")
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
                       problems: Problems) -> BankLine | None:
    if len(row) != 8:
        problems.add(f"line {line_no}: expected 8 fields, found {len(row)}")
        return None
    if row[1] != str(seq):
        problems.add(f"line {line_no}: sequence number {row[1]!r}, expected {seq}")
    if not AMOUNT.fullmatch(row[5]):
        problems.add(f"line {line_no}: amount {row[5]!r} is not a whole number of fen")
        return None
    line = BankLine(payment_id=row[2], account_number=row[3], holder_name=row[4],
                    amount_fen=int(row[5]), programme=row[6], period=row[7])
    if problem := _bank_line_problem(line):
        problems.add(f"line {line_no}: {problem}")
        return None
    return line


def _bank_line_problem(line: BankLine) -> str | None:
    if problem := amount_problem(line.amount_fen):
        return problem
    if not _ACCOUNT.fullmatch(line.account_number):
        return "account number must be digits only"
    if not _PERIOD.fullmatch(line.period):
        return f"period {line.period!r} is not YYYY-MM"
    for name, value in (("payment id", line.payment_id), ("holder name", line.holder_name),
                        ("programme", line.programme)):
        if problem := text_problem(value):
            return f"{name}: {problem}"
    return None
