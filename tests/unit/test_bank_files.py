"""Bank files: the disbursement file written for a bank, and the result file read back."""

import io
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from deploy.bank_simulator import main as simulator_main
from deploy.bank_simulator import settle
from services.payment.domain.bankfile.cells import FileRefused, LineRefused
from services.payment.domain.bankfile.disbursement import (
    BankLine,
    ControlTotalMismatch,
    parse_disbursement,
    read_disbursement,
    write_disbursement,
)
from services.payment.domain.bankfile.results import parse_results, write_results

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 25, 9, 30, tzinfo=CST)
LINES = [
    BankLine("p-1", "6222020200112233445", "王秀英", 81_000, "dibao", "2026-11"),
    BankLine("p-2", "6217000010001234567", 'Li, "Ming"', 30_000, "tekun", "2026-11"),
    BankLine("p-3", "6228480010009876543", "阿依古丽·买买提", 5, "linshi", "2026-10"),
]
TOTAL = sum(line.amount_fen for line in LINES)


def disbursement(lines: list[BankLine] = LINES, *, count: int | None = None,
                 total: int | None = None, cycle_id: str | None = "cycle-2026-11") -> str:
    out = io.StringIO(newline="")
    write_disbursement(out, file_id="F-330282-0001", bank_code="ICBC", cycle_id=cycle_id,
                       created_at=AT, record_count=len(lines) if count is None else count,
                       total_fen=int(sum(x.amount_fen for x in lines)) if total is None else total,
                       lines=iter(lines))
    return out.getvalue()


def reader(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


def refusal(parse, text: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(FileRefused) as refused:
        parse(reader(text))
    return "\n".join(refused.value.problems)


# --- the disbursement file ---------------------------------------------------------------------


def test_a_disbursement_file_round_trips_with_its_documented_layout():
    text = disbursement()
    assert text.splitlines() == [
        "H,ONEDOOR-DISB,1,F-330282-0001,ICBC,cycle-2026-11,2026-11-25T09:30:00+08:00,3,111005",
        "D,1,p-1,6222020200112233445,王秀英,81000,dibao,2026-11",
        'D,2,p-2,6217000010001234567,"Li, ""Ming""",30000,tekun,2026-11',
        "D,3,p-3,6228480010009876543,阿依古丽·买买提,5,linshi,2026-10",
        "T,3,111005",
    ]
    assert text.count("\r\n") == 5
    parsed = parse_disbursement(reader(text))
    assert (parsed.file_id, parsed.bank_code, parsed.cycle_id) == ("F-330282-0001", "ICBC",
                                                                   "cycle-2026-11")
    assert parsed.created_at == AT and parsed.created_at.utcoffset() == timedelta(hours=8)
    assert (parsed.record_count, parsed.total_fen, parsed.lines) == (3, TOTAL, LINES)
    assert parse_disbursement(reader(disbursement(cycle_id=None))).cycle_id is None


def test_a_byte_order_mark_from_a_spreadsheet_is_tolerated():
    assert parse_disbursement(reader("\ufeff" + disbursement())).lines == LINES


@pytest.mark.parametrize(("count", "total"), [(4, TOTAL), (2, TOTAL), (3, TOTAL + 1)])
def test_lines_that_do_not_add_up_to_the_header_stop_the_file_before_its_trailer(count, total):
    out = io.StringIO(newline="")
    with pytest.raises(ControlTotalMismatch) as mismatch:
        write_disbursement(out, file_id="F1", bank_code="ICBC", cycle_id=None, created_at=AT,
                           record_count=count, total_fen=total, lines=iter(LINES))
    assert mismatch.value.actual == (3, TOTAL)
    assert mismatch.value.expected == (count, total)
    # A caller that keeps the half-written file anyway still cannot get it accepted.
    assert not out.getvalue().splitlines()[-1].startswith("T,")
    assert "no trailer" in refusal(parse_disbursement, out.getvalue())


@pytest.mark.parametrize(("field", "value", "why"), [
    ("amount_fen", 0, "positive"),
    ("amount_fen", -100, "positive"),
    ("amount_fen", 100.0, "integer fen"),
    ("amount_fen", True, "integer fen"),
    ("account_number", "6222-0202-0011", "digits"),
    ("account_number", "６２２２０２０２", "digits"),  # full-width digits pass str.isdigit()
    ("account_number", "", "digits"),
    ("holder_name", "=HYPERLINK(\"http://x\",\"王\")", "formula"),
    ("holder_name", "+86 138", "formula"),
    ("holder_name", "-1+1", "formula"),
    ("holder_name", "@SUM(A1)", "formula"),
    ("holder_name", " =1+1", "spaces"),
    ("holder_name", "\t=1+1", "spaces"),
    ("holder_name", "王\r\n=1+1", "line break"),
    ("holder_name", "王\u202e英秀", "control"),
    ("holder_name", "", "empty"),
    ("period", "2026-13", "YYYY-MM"),
    ("payment_id", "=1", "formula"),
])
def test_a_line_that_must_not_reach_a_bank_is_refused(field, value, why):
    bad = _replace(field, value)
    with pytest.raises(LineRefused, match=why) as refused:
        disbursement([LINES[1], bad])
    assert refused.value.payment_id == bad.payment_id


def _replace(field: str, value: object) -> BankLine:
    values = {name: getattr(LINES[0], name) for name in BankLine.__slots__}
    return BankLine(**{**values, field: value})


def test_a_disbursement_file_is_refused_whole_with_every_problem_named():
    text = disbursement().replace(",5,linshi,", ",6,linshi,").replace("王秀英", "=cmd|'/c calc'!A")
    problems = refusal(parse_disbursement, text)
    assert "line 2: holder name: starts with '='" in problems
    assert "trailer says 3 lines totalling 111005 fen" in problems
    assert "header says 3 lines totalling 111005 fen" in problems


@pytest.mark.parametrize(("change", "expected"), [
    (lambda lines: lines[:-1], "no trailer"),
    (lambda lines: [lines[0], *lines[2:]], "sequence number '2', expected 1"),
    (lambda lines: lines[:2] + lines[3:], "the file has 2 lines"),
    (lambda lines: [lines[0].replace("ONEDOOR-DISB", "ONEDOOR-X"), *lines[1:]], "format"),
    (lambda lines: [lines[0].replace("+08:00", ""), *lines[1:]], "with an offset"),
    (lambda lines: [*lines, "D,4,p-9,1,x,1,dibao,2026-11"], "after the trailer"),
])
def test_a_truncated_or_garbled_disbursement_file_is_refused(change, expected):
    assert expected in refusal(parse_disbursement, "\n".join(change(disbursement().splitlines())))


def test_the_same_payment_twice_in_a_disbursement_file_is_refused():
    assert "payment p-1 appears 2 times" in refusal(parse_disbursement,
                                                    disbursement([*LINES, LINES[0]]))


def test_a_200_000_line_file_is_written_and_read_back_in_bounded_memory(tmp_path):
    n = 200_000

    def lines() -> Iterator[BankLine]:
        for i in range(n):
            yield BankLine(f"pay-{i:08d}", f"62220202{i:011d}", "欧阳秀英", 81_000 + i % 7,
                           "dibao", "2026-11")

    total = sum(81_000 + i % 7 for i in range(n))
    path = tmp_path / "disbursement.csv"
    tracemalloc.start()
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            write_disbursement(out, file_id="F-big", bank_code="ICBC", cycle_id="c1",
                               created_at=AT, record_count=n, total_fen=total, lines=lines())
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = [0, 0]

        def count(line: BankLine) -> None:
            seen[0] += 1
            seen[1] += line.amount_fen

        with path.open(encoding="utf-8", newline="") as infile:
            header = read_disbursement(infile, count)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (header.record_count, header.total_fen) == (n, total) == tuple(seen)
    # Holding the lines (or the file) in memory would take tens of megabytes.
    assert path.stat().st_size > 10_000_000
    assert written_peak < 20_000_000 and read_peak < 20_000_000, (written_peak, read_peak)


# --- the result file ---------------------------------------------------------------------------

REASON_201 = "余" * 201
# Nine D lines. The trailer counts every line the way the bank saw it: paid p-1, p-2 (12x),
# p-7 and p-9 = 81000 + 1200 + 5000 + 5000; failed p-3 (-5), p-4 (MAYBE), p-5, p-6 and p-8.
MIXED = "\r\n".join([
    "H,ONEDOOR-RESULT,1,F-330282-0001,ICBC,9",
    "D,p-1,81000,PAID,,B-0001",
    "D,p-2,12x,PAID,,",
    "D,p-3,-5,FAILED,账户已销户,",
    "D,p-4,5000,MAYBE,,",
    "D,p-5,5000,FAILED,,",
    f"D,p-6,5000,FAILED,{REASON_201},",
    "D,p-7,5000,PAID",
    "D,p-8,7000,FAILED,户名不符,B-0008",
    "D,p-9,5000,PAID,,,extra",
    "T,9,4,92200,5,22005",
    "",
])


def test_each_bad_result_line_is_rejected_by_line_number_while_the_rest_are_read():
    result = parse_results(reader(MIXED))
    assert (result.file_id, result.bank_code) == ("F-330282-0001", "ICBC")
    assert [(x.line_no, x.payment_id, x.outcome, x.amount_fen, x.reason, x.bank_reference)
            for x in result.lines] == [(2, "p-1", "paid", 81_000, None, "B-0001"),
                                       (9, "p-8", "failed", 7_000, "户名不符", "B-0008")]
    problems = {(p.line_no, p.payment_id): p.reason for p in result.problems}
    assert list(problems) == [(3, "p-2"), (4, "p-3"), (5, "p-4"), (6, "p-5"), (7, "p-6"),
                              (8, "p-7"), (10, "p-9")]
    assert "amount '12x'" in problems[3, "p-2"]
    assert "amount '-5'" in problems[4, "p-3"]
    assert "unknown outcome 'MAYBE'" in problems[5, "p-4"]
    assert problems[6, "p-5"] == "FAILED without a reason"
    assert problems[7, "p-6"] == "reason longer than 200 characters"
    assert problems[8, "p-7"] == "expected 6 fields, found 4"
    assert problems[10, "p-9"] == "expected 6 fields, found 7"


def test_a_zero_amount_or_a_paid_line_with_a_reason_is_rejected():
    text = results([("p-1", 100, "PAID", None, None), ("p-2", 200, "PAID", None, None)])
    text = text.replace("D,p-1,100,PAID,,", "D,p-1,0,PAID,,").replace(
        "D,p-2,200,PAID,,", "D,p-2,200,PAID,paid late,")
    # The zero line cannot be counted, so the trailer's 300 must be explained by p-2 plus one
    # unreadable line of at least 1 fen: it is, and only the lines are rejected.
    result = parse_results(reader(text))
    assert result.lines == []
    assert [(p.line_no, p.reason) for p in result.problems] == [
        (2, "amount '0' is not a positive whole number of fen"), (3, "PAID with a reason")]


def test_the_same_payment_twice_in_a_result_file_rejects_both_lines():
    text = results([("p-1", 100, "PAID", None, None), ("p-2", 200, "PAID", None, None),
                    ("p-1", 100, "FAILED", "账户冻结", None)])
    result = parse_results(reader(text))
    assert [line.payment_id for line in result.lines] == ["p-2"]
    assert [(p.line_no, p.payment_id, p.reason) for p in result.problems] == [
        (2, "p-1", "payment p-1 appears more than once (also on line 4)"),
        (4, "p-1", "payment p-1 appears more than once (also on line 2)")]


def results(lines: list[tuple[str, int, str, str | None, str | None]]) -> str:
    out = io.StringIO(newline="")
    write_results(out, file_id="F1", bank_code="ICBC", lines=lines)
    return out.getvalue()


GOOD = results([("p-1", 81_000, "PAID", None, "B1"), ("p-2", 30_000, "FAILED", "账户已销户", None),
                ("p-3", 5, "PAID", None, "B3")])


def test_a_written_result_file_reads_back():
    assert GOOD.splitlines() == ["H,ONEDOOR-RESULT,1,F1,ICBC,3", "D,p-1,81000,PAID,,B1",
                                 "D,p-2,30000,FAILED,账户已销户,", "D,p-3,5,PAID,,B3",
                                 "T,3,2,81005,1,30000"]
    result = parse_results(reader(GOOD))
    assert [(x.payment_id, x.outcome) for x in result.lines] == [
        ("p-1", "paid"), ("p-2", "failed"), ("p-3", "paid")]
    assert result.problems == []


@pytest.mark.parametrize(("change", "expected"), [
    (lambda lines: lines[:-1], "no trailer"),
    (lambda lines: lines[1:], "does not start with a header"),
    (lambda lines: [*lines[:2], *lines[3:]], "trailer says 3 lines; the file has 2"),
    (lambda lines: [lines[0], lines[1], lines[3], "T,2,2,81005,0,0"], "header says 3 lines"),
    # Tampered: an amount raised, or a failure turned into a payment.
    (lambda lines: [*lines[:3], "D,p-3,500,PAID,,B3", lines[4]], "trailer says 2 paid lines"),
    (lambda lines: [lines[0], lines[1], "D,p-2,30000,PAID,,", *lines[3:]],
     "the readable lines have 3 totalling 111005"),
    (lambda lines: [lines[0].replace("RESULT", "RESULTS"), *lines[1:]], "format 'ONEDOOR-RESULTS'"),
    (lambda lines: [lines[0].replace(",1,", ",2,", 1), *lines[1:]], "version '2'"),
    (lambda lines: [*lines[:4], "T,3,2,81005,1"], "trailer has 5 fields"),
    (lambda lines: [*lines[:4], "T,3,2,81005,1,3e4"], "not all whole numbers"),
    (lambda lines: [*lines[:4], "X,1", lines[4]], "unknown record type 'X'"),
    (lambda lines: [*lines, lines[1]], "after the trailer"),
])
def test_a_truncated_or_tampered_result_file_is_refused_whole(change, expected):
    assert expected in refusal(parse_results, "\r\n".join(change(GOOD.splitlines())))


def test_a_refusal_lists_every_problem_at_once():
    lines = GOOD.splitlines()
    text = "\n".join([lines[0].replace("RESULT", "RESULTS"), *lines[1:3], lines[4]])
    problems = refusal(parse_results, text)
    assert "format 'ONEDOOR-RESULTS'" in problems
    assert "trailer says 3 lines; the file has 2" in problems


def test_writing_a_result_line_a_bank_would_not_send_is_refused():
    with pytest.raises(LineRefused, match="FAILED without a reason"):
        results([("p-1", 100, "FAILED", None, None)])
    with pytest.raises(LineRefused, match="formula"):
        results([("p-1", 100, "FAILED", "=1+1", None)])


# --- the bank simulator ------------------------------------------------------------------------


def test_the_simulator_pays_every_line_by_default():
    result = parse_results(reader(settle(disbursement())))
    assert result.file_id == "F-330282-0001" and result.problems == []
    assert [(x.payment_id, x.amount_fen, x.outcome) for x in result.lines] == [
        (line.payment_id, line.amount_fen, "paid") for line in LINES]
    assert result.lines[0].bank_reference == "SIM-F-330282-0001-1"


def test_the_simulator_fails_the_lines_it_is_told_to():
    def fail(line: BankLine) -> str | None:
        return "户名不符" if line.payment_id == "p-2" else None

    text = settle(disbursement(), fail=fail, bank_reference_prefix="TEST")
    outcomes = {x.payment_id: (x.outcome, x.reason) for x in parse_results(reader(text)).lines}
    assert outcomes == {"p-1": ("paid", None), "p-2": ("failed", "户名不符"), "p-3": ("paid", None)}


def test_the_simulator_refuses_a_file_that_does_not_add_up():
    with pytest.raises(FileRefused):
        settle(disbursement().replace(",81000,", ",81001,"))


def test_the_simulator_runs_from_the_command_line(tmp_path, capsys):
    (tmp_path / "in.csv").write_bytes(disbursement().encode())
    assert simulator_main([str(tmp_path / "in.csv"), str(tmp_path / "out.csv"),
                           "--fail-every", "2"]) == 0
    text = (tmp_path / "out.csv").read_bytes().decode()
    assert [x.outcome for x in parse_results(reader(text)).lines] == ["paid", "failed", "paid"]
    (tmp_path / "bad.csv").write_text("H,nothing\n", encoding="utf-8")
    assert simulator_main([str(tmp_path / "bad.csv"), str(tmp_path / "x.csv")]) == 2
    assert "refused" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_created_at_without_an_offset_is_refused():
    with pytest.raises(ValueError, match="offset"):
        write_disbursement(io.StringIO(), file_id="F1", bank_code="ICBC", cycle_id=None,
                           created_at=datetime(2026, 11, 25, 9, 30), record_count=0, total_fen=0,
                           lines=[])
