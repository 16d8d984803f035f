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
import logging
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
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
