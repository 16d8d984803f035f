"""Alembic, once for all services: each service keeps its own migrations folder and database.

A service's ``migrations/env.py`` is two lines: it calls :func:`run_env` with its metadata.

Every instance of a service migrates its database as it starts, and several instances may start
at the same moment. Two Alembic runs at once would both find the database behind and both apply
the same revisions: one fails half-way (a table that already exists), or both record their
version. On PostgreSQL an upgrade therefore holds an advisory lock for its whole length; the
next instance waits, then finds the database at head and does nothing. SQLite databases are one
process's file, and SQLite takes one writer at a time anyway.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import Engine, MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shared.db import make_engine, normalize_url
from shared.singleton import advisory_key

log = logging.getLogger(__name__)

# One key for every service: advisory locks are per database, and each service has its own.
MIGRATION_LOCK = advisory_key("onedoor-migrations")


def upgrade(url: str, migrations_dir: Path) -> None:
    """Bring a service's database to the newest revision, one instance at a time."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["url"] = url
    if make_url(normalize_url(url)).get_backend_name() != "postgresql":
        command.upgrade(config, "head")
        return
    # A connection of its own, outside any pool, that holds the lock while Alembic works on
    # others; autocommit, so it holds no transaction open meanwhile. Should this process die,
    # its session ends and the lock goes with it.
    engine = create_engine(normalize_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as lock:
            key = {"key": MIGRATION_LOCK}
            if not lock.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar_one():
                log.info("another instance is migrating %s; waiting for it",
                         migrations_dir.parent.name)
                lock.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                command.upgrade(config, "head")
            finally:
                # Closing the session (NullPool: right after) would let it go too; an error
                # here must not hide the upgrade's.
                with contextlib.suppress(Exception):
                    lock.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        engine.dispose()


def pending(engine: Engine, migrations_dir: Path) -> list[str]:
    """The revisions :func:`upgrade` would apply to this database, newest first.

    None when it is at the code's head, and none either when it is at a revision this code does
    not know: a newer release's. In a rollout the new release's migrations run first (expanding
    the schema, never breaking the release before), while this release's instances still serve;
    they must not count as behind then."""
    script = _script(migrations_dir)
    with engine.connect() as conn:
        # Read as Alembic keeps it, without its MigrationContext: that logs each time, and
        # readiness asks every few seconds.
        current = tuple(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                        ) if inspect(conn).has_table("alembic_version") else ()
    try:
        return [s.revision for s in script.iterate_revisions("heads", current or "base")]
    except ResolutionError:  # a revision of a newer release
        return []


@functools.cache
def _script(migrations_dir: Path) -> ScriptDirectory:
    return ScriptDirectory(str(migrations_dir))


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py`` (online mode only: we always have a database)."""
    url = context.config.attributes.get("url")
    if url is None:
        raise RuntimeError("run migrations with shared.migrations.upgrade(url, folder)")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
