"""A frozen dataclass with some fields changed, cheaply.

The facts are frozen dataclasses made the ordinary way. Only changing them is done here,
because the audit replay changes every member of every case once per verification report, and
every case's facts once per assessment it re-runs. (Making them at once with an ``exec``-built
``__init__`` was tried and dropped, issue 23: no difference the replay's timings could show,
and more memory; docs/PERFORMANCE.md.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T", bound="DataclassInstance")


def changed(frozen: _T, changes: dict[str, Any]) -> _T:
    """A frozen dataclass (without ``__post_init__`` or slots) with some fields changed: what
    ``dataclasses.replace`` gives, without its look at every field on every call and the
    frozen ``__init__``'s call per field, which together cost more than an assessment when the
    audit replay re-runs every decision. Unknown names fail as with ``replace``."""
    unknown = changes.keys() - frozen.__dict__.keys()
    if unknown:
        raise TypeError(f"{type(frozen).__name__} has no field(s) {', '.join(sorted(unknown))}")
    made = object.__new__(type(frozen))
    made.__dict__.update(frozen.__dict__, **changes)
    return made
