"""SQL helpers for every service's queries: a list of any length bound as one value (``among``),
and the rows a principal's jurisdiction covers (``within``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Dialect,
    Text,
    TypeDecorator,
    bindparam,
    func,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType, TypeEngine


def within(jurisdiction: str, region: ColumnElement[Any],
           town: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """The rows a principal of ``jurisdiction`` (a region-code prefix, "" everywhere) may see:
    those whose town, or district when no town is recorded, starts with it — the SQL form of
    ``Principal.covers(area_of(region, town))``, so a list never holds a case its reader would
    be refused one by one."""
    if jurisdiction == "":
        return true()
    area = region if town is None else func.coalesce(town, region)
    # substr, not LIKE: the prefix is digits, and LIKE's wildcards need no thought this way.
    return func.substr(area, 1, len(jurisdiction)) == jurisdiction


class _ListOf(TypeDecorator[list[Any]]):
    """A list of strings or integers bound as one value: JSON text on SQLite (read back with
    json_each), an array on PostgreSQL."""

    impl = Text
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


class _Among(FunctionElement[bool]):
    name = "among"
    # Untyped: a Boolean would be written "... = 1" on SQLite, which has no boolean type.
    type = NullType()  # type: ignore[assignment]  # a bool to Python, untyped to SQL
    inherit_cache = True


def among(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN (the list bound as name)``, with the list bound as ONE value however long.
    An expanding ``in_()`` binds each item on its own: SQLAlchemy rendered 5,000 names per
    statement at ~2 µs each, more than the query cost in bulk ingestion, and SQLite refuses more
    than 32,766 bound values."""
    return _Among(column, bindparam(name, type_=_ListOf(column.type)))


def _among_clauses(element: _Among, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    column, values = list(element.clauses)
    assert isinstance(values, BindParameter)
    return compiler.process(column, **kw), compiler.process(values, **kw)


@compiles(_Among, "sqlite")
def _among_sqlite(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _among_clauses(element, compiler, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _among_clauses(element, compiler, **kw)
    return f"{column} = ANY({values})"
