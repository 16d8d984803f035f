"""Frozen dataclasses that are as quick to make as plain ones.

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__`` (its
``__setattr__`` refuses): a call per field. The audit replay re-runs every assessment ever
made, and makes half a million checks, benefits and members in each process at 1,000,000
events; those calls were a fortieth of its time. ``quick`` gives such a class an ``__init__``
that sets the instance's dict in one step, with the same parameters, defaults and factories —
written out as dataclasses writes its own. ``changed`` is ``dataclasses.replace`` the same way.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T", bound="DataclassInstance")


def quick(cls: type[_T]) -> type[_T]:
    """Replace a frozen dataclass's ``__init__`` (one without ``__post_init__``, slots or
    fields left out of ``__init__``) by one that sets every field at once."""
    params = getattr(cls, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{cls.__name__} is not a frozen dataclass"
    assert not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__, cls.__name__
    fields = dataclasses.fields(cls)
    assert all(f.init and not f.kw_only for f in fields), cls.__name__
    scope: dict[str, Any] = {"_set": object.__setattr__, "_NOTHING": _NOTHING}
    parameters, values = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            scope[f"_make_{f.name}"] = f.default_factory
            parameters.append(f"{f.name}=_NOTHING")
            values.append(f"{f.name!r}: _make_{f.name}() if {f.name} is _NOTHING else {f.name}")
        else:
            if f.default is not dataclasses.MISSING:
                scope[f"_default_{f.name}"] = f.default
                parameters.append(f"{f.name}=_default_{f.name}")
            else:
                parameters.append(f.name)
            values.append(f"{f.name!r}: {f.name}")
    source = (f"def __init__(self, {', '.join(parameters)}):\n"
              f"    _set(self, '__dict__', {{{', '.join(values)}}})\n")
    exec(source, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = f"{cls.__name__}'s fields, set at once (``frozen.quick``)."
    cls.__init__ = init  # type: ignore[method-assign]  # the point: the exec-built __init__
    return cls


def changed(frozen: _T, changes: dict[str, Any]) -> _T:
    """A frozen dataclass (without ``__post_init__``) with some fields changed: what
    ``dataclasses.replace`` gives, without its look at every field on every call and the
    frozen ``__init__``'s call per field, which together cost more than an assessment when the
    audit replay re-runs every decision. Unknown names fail as with ``replace``."""
    unknown = changes.keys() - frozen.__dict__.keys()
    if unknown:
        raise TypeError(f"{type(frozen).__name__} has no field(s) {', '.join(sorted(unknown))}")
    made = object.__new__(type(frozen))
    made.__dict__.update(frozen.__dict__, **changes)
    return made


class _Nothing:
    """No value given: the field's factory makes one."""

    def __repr__(self) -> str:
        return "<nothing given>"


_NOTHING = _Nothing()
