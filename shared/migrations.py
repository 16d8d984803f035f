"""Alembic, once for all services: each service keeps its own migrations folder and database.

A service's ``migrations/env.py`` is two lines: it calls :func:`run_env` with its metadata.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import make_engine


def upgrade(url: str, migrations_dir: Path) -> None:
    """Bring a service's database to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["url"] = url
    command.upgrade(config, "head")


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
