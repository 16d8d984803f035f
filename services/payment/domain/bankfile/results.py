"""The result file a bank sends back (回盘文件): each payment paid or failed, and a trailer whose
counts and totals show a truncated or altered file."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TextIO

from services.payment.domain.bankfile.cells import (
    AMOUNT,
    VERSION,
    LineRefused,
    Problems,
    amount_problem,
    header_ok,
    outcome_problem,
    records,
    reference_problem,
    text_problem,
    trailer_counts,
    whole_numbers,
)

RESULT_FORMAT = "ONEDOOR-RESULT"


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


def write_results(out: TextIO, *, file_id: str, bank_code: str,
                  lines: Iterable[tuple[str, int, str, str | None, str | None]]) -> None:
    """Write a result file from (payment_id, amount_fen, "PAID"|"FAILED", reason,
    bank_reference). For the bank simulator and tests: it holds the lines, since the header
    carries their count."""
    rows = list(lines)
    sums = {"PAID": [0, 0], "FAILED": [0, 0]}
    for payment_id, amount_fen, outcome, reason, reference in rows:
        problem = (text_problem(payment_id) or amount_problem(amount_fen)
                   or outcome_problem(outcome, reason or "")
                   or (reason and text_problem(reason))
                   or (reference and reference_problem(reference)))
        if problem:
            raise LineRefused(payment_id, problem)
        sums[outcome][0] += 1
        sums[outcome][1] += amount_fen
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["H", RESULT_FORMAT, VERSION, file_id, bank_code, len(rows)])
    for payment_id, amount_fen, outcome, reason, reference in rows:
        writer.writerow(["D", payment_id, amount_fen, outcome, reason or "", reference or ""])
    writer.writerow(["T", len(rows), *sums["PAID"], *sums["FAILED"]])


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
    problems = Problems()
    header: tuple[str, str, int] | None = None  # file id, bank code, record count
    trailer: list[int] | None = None
    d_lines = unreadable = 0
    readable = {"paid": [0, 0], "failed": [0, 0]}
    candidates: list[ResultLine] = []
    reasons: dict[int, tuple[str | None, list[str]]] = {}  # line_no -> (payment_id, reasons)
    seen: dict[str, list[int]] = {}
    for line_no, kind, row in records(lines, problems):
        if kind == "H":
            header = _result_header(row, line_no, problems)
        elif kind == "T":
            trailer = trailer_counts(row, 6, line_no, problems)
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
                   problems: Problems) -> tuple[str, str, int] | None:
    if not header_ok(row, 6, RESULT_FORMAT, line_no, problems):
        return None
    count = whole_numbers(row[5:], line_no, problems, "header record count")
    return None if count is None else (row[3], row[4], count[0])


def _result_line(row: list[str], line_no: int) -> tuple[ResultLine | None, list[str]]:
    """The line if its amount and outcome can be read (even if rejected), and its problems."""
    if len(row) != 6:
        return None, [f"expected 6 fields, found {len(row)}"]
    _, payment_id, amount, outcome, reason, reference = row
    reasons = [] if payment_id else ["no payment id"]
    amount_ok = bool(AMOUNT.fullmatch(amount)) and int(amount) > 0
    if not amount_ok:
        reasons.append(f"amount {amount!r} is not a positive whole number of fen")
    if outcome not in ("PAID", "FAILED"):
        reasons.append(f"unknown outcome {outcome!r} (PAID or FAILED)")
    elif amount_ok:
        if problem := outcome_problem(outcome, reason):
            reasons.append(problem)
        if reference and (problem := reference_problem(reference)):
            reasons.append(problem)
        line = ResultLine(line_no=line_no, payment_id=payment_id, amount_fen=int(amount),
                          outcome="paid" if outcome == "PAID" else "failed",
                          reason=reason if outcome == "FAILED" else None,
                          bank_reference=reference or None)
        return line, reasons
    return None, reasons


def _check_result_trailer(trailer: list[int], d_lines: int, unreadable: int,
                          readable: dict[str, list[int]], problems: Problems) -> None:
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
