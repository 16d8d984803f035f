"""What OneDoor refuses in anything sent to it, whichever service receives it: free text with
control or bidirectional-override characters, and JSON objects that name a member twice.

Free text is shown again — on the window's pages, in notices, in CSV exports — where a NUL cuts
it short, an ESC drives a terminal and a U+202E shows "gpj.exe" as "exe.jpg". Declare every
free-text field of a request body with :data:`TextLine` (names, addresses, reasons: one line)
or :data:`FreeText` (descriptions and notes: line breaks allowed); :func:`text_problem` is the
same judgement for a form.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator

# Bidirectional controls: embeddings and overrides, isolates, and the invisible marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Cc control characters, Cs lone surrogates, Zl/Zp the Unicode line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_LINE_BREAKS = frozenset("\t\n\r")  # a textarea sends CR LF


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable free text, or None. Names the character's code point,
    never the text around it."""
    if value.isprintable():  # every refused character is unprintable: most text stops here
        return None
    for char in value:
        if multiline and char in _LINE_BREAKS:
            continue
        if char in _BIDI or unicodedata.category(char) in _REFUSED_CATEGORIES:
            kind = "bidirectional-control" if char in _BIDI else "control"
            return (f"must not contain {kind} characters (found U+{ord(char):04X}); "
                    + ("only line breaks and tabs are allowed" if multiline else
                       "it is one line of text"))
    return None


def _line(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def _text(value: str) -> str:
    if problem := text_problem(value, multiline=True):
        raise ValueError(problem)
    return value


TextLine = Annotated[str, AfterValidator(_line)]
"""One line of free text (a name, an address, a reason): no control or bidi characters."""

FreeText = Annotated[str, AfterValidator(_text)]
"""Free text that may run over lines (a description, a note): tabs and line breaks only."""


# -- JSON ----------------------------------------------------------------------------------------

class DuplicateMember(ValueError):
    """A JSON object names a member twice: parsers disagree on which one counts, so neither
    does. ``path`` locates the object (keys and list positions); ``name`` is the member's name
    when it is a plain identifier (a field name), else None; other keys in ``path`` are "*" — a
    stranger's key is not echoed."""

    def __init__(self, path: tuple[str | int, ...], name: str | None) -> None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        what = f"member {name!r}" if name else "a member"
        super().__init__(f"{what} appears twice in one object" + (f" ({where})" if where else ""))
        self.path, self.name = path, name


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class _Twice(dict[str, Any]):
    name: str


def loads_unique(raw: str | bytes) -> Any:
    """``json.loads``, but an object with a member twice raises :class:`DuplicateMember`, which
    says where. (``json.JSONDecodeError`` for text that is not JSON, as before.)"""
    twice: list[_Twice] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(items)
        if len(value) == len(items):
            return value
        seen: set[str] = set()
        found = _Twice(value)
        for k, _ in items:  # the first name given twice
            if k in seen:
                found.name = k
                break
            seen.add(k)
        twice.append(found)
        return found

    value = json.loads(raw, object_pairs_hook=pairs)
    if twice:
        path, found = _first_twice(value)
        raise DuplicateMember(tuple(_shown(p) for p in path),
                              found.name if _FIELD_NAME.fullmatch(found.name) else None)
    return value


def shown_field(part: str | int) -> str | int:
    """A part of an error's location as it may be shown: an index, or a name that looks like a
    field's; anything else a client sent as a key ("*"), which may be a name or a number."""
    return _shown(part)


def _shown(part: str | int) -> str | int:
    return part if isinstance(part, int) or _FIELD_NAME.fullmatch(part) else "*"


def _first_twice(value: Any) -> tuple[tuple[str | int, ...], _Twice]:
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Twice):
            return path, node
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in reversed(node.items())
                         if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node)))
                         if isinstance(v, dict | list))
    raise AssertionError("a duplicate was seen but is not in the value")
