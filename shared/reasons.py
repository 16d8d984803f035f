"""Why an event was dead-lettered, in words that carry none of its data.

The reason is kept for years — in the inbox row, on the dead-letter record's ``dlq_reason``
header, in ``GET /dead-letters`` — and an event that fails may be one that holds what it should
not (a producer's bug put a name in it). So a reason names where and what kind of error, never
the value: pydantic's own text quotes the input (``input_value='…'``), a database error quotes
its row, a builtin's its argument (``int()``'s, a ``KeyError``'s). So only an exception of our
own classes keeps its words (code composed them from codes and pseudonymous references), masked
like a log line; any other keeps only its type.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

from pydantic import ValidationError

from shared.logs import describe, mask

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_ERRORS = 10


def reason_of(exc: BaseException) -> str:
    """The dead-letter reason for ``exc``."""
    if isinstance(exc, ValidationError):
        return f"{type(exc).__name__}: {invalid(exc)}"
    if _ours(exc):
        return f"{type(exc).__name__}: {mask(str(exc))}"
    return describe(exc)


# Where the interpreter's and the installed libraries' code lives: what is raised there is not
# ours. (OneDoor itself is installed editable, so its code is outside these.)
_LIBRARIES = tuple({str(Path(sysconfig.get_path(name)).resolve())
                    for name in ("stdlib", "platstdlib", "purelib", "platlib")})


def _ours(exc: BaseException) -> bool:
    """Whether the exception's class is one of our code's (OneDoor is installed editable, so
    its modules live outside the interpreter's and the libraries' paths). A builtin's message
    quotes its input too (``int()``'s, a ``KeyError``'s): only our classes keep theirs."""
    module = sys.modules.get(type(exc).__module__)
    file = getattr(module, "__file__", None)
    return file is not None and not str(Path(file).resolve()).startswith(_LIBRARIES)


def invalid(exc: ValidationError) -> str:
    """Where the data was wrong and how (pydantic's error type), never what it held: a key of
    the input that is not a plain name is shown as ``*``."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{_where(e['loc'])} ({e['type']})" for e in errors[:MAX_ERRORS]]
    more = len(errors) - MAX_ERRORS
    return ("; ".join(parts) or "invalid") + (f"; and {more} more" if more > 0 else "")


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) if isinstance(p, int) or _NAME.fullmatch(p) else "*"
                    for p in loc) or "(the whole value)"
