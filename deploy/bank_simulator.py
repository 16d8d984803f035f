"""A development bank: reads a OneDoor disbursement file and answers with a result file.

    python -m deploy.bank_simulator IN.csv OUT.csv [--fail-every N]

It pays every line unless told to fail some, the way a bank would refuse a closed account. A
file it cannot trust (see docs/BANK_FILES.md) is refused whole, as a real bank would.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable

from services.payment.domain.bankfile.cells import FileRefused
from services.payment.domain.bankfile.disbursement import BankLine, parse_disbursement
from services.payment.domain.bankfile.results import write_results

SIMULATED_FAILURE = "账户已销户 (account closed, simulated)"


def settle(disbursement_text: str, *, fail: Callable[[BankLine], str | None] = lambda line: None,
           bank_reference_prefix: str = "SIM") -> str:
    """The result file for ``disbursement_text``: each line paid, or failed with the reason
    ``fail`` returns for it. Raises ``FileRefused`` for a file that does not add up."""
    # newline="" keeps CRLF inside the csv module's hands, as for a file opened for reading.
    disbursement = parse_disbursement(io.StringIO(disbursement_text, newline=""))
    outcomes = []
    for seq, line in enumerate(disbursement.lines, start=1):
        reason = fail(line)
        outcomes.append((line.payment_id, line.amount_fen, "FAILED" if reason else "PAID",
                         reason, f"{bank_reference_prefix}-{disbursement.file_id}-{seq}"))
    out = io.StringIO(newline="")
    write_results(out, file_id=disbursement.file_id, bank_code=disbursement.bank_code,
                  lines=outcomes)
    return out.getvalue()


def every_nth(n: int) -> Callable[[BankLine], str | None]:
    """Fail lines n, 2n, 3n, … in file order (never, for n <= 0)."""
    seen = 0

    def fail(line: BankLine) -> str | None:
        nonlocal seen
        seen += 1
        return SIMULATED_FAILURE if n > 0 and seen % n == 0 else None

    return fail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.bank_simulator",
                                     description="Settle a OneDoor disbursement file.")
    parser.add_argument("disbursement", help="the disbursement file to read")
    parser.add_argument("result", help="where to write the result file")
    parser.add_argument("--fail-every", type=int, default=0, metavar="N",
                        help="fail every Nth line with a simulated closed account")
    args = parser.parse_args(argv)
    with open(args.disbursement, encoding="utf-8", newline="") as infile:
        text = infile.read()
    try:
        result = settle(text, fail=every_nth(args.fail_every))
    except FileRefused as refused:
        print(f"refused {args.disbursement}:", *refused.problems, sep="\n  ", file=sys.stderr)
        return 2
    with open(args.result, "w", encoding="utf-8", newline="") as outfile:
        outfile.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
