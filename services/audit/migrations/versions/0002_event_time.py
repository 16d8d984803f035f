"""the archive's event time, indexed: the replay reads every chain in time order in one query

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:00:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.audit.domain.event_time import micros

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The append-only triggers of 0001, dropped for the backfill and made again in the same
# transaction. The backfill writes only the new column, from each record's own hashed headers.
_SQLITE_TRIGGER = """
    CREATE TRIGGER archive_no_{action} BEFORE {ACTION} ON archive
    BEGIN SELECT RAISE(ABORT, 'the archive is append-only'); END"""
_BATCH = 5_000


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: on SQLite a batch copies the table and loses its triggers.
    op.add_column('archive', sa.Column('event_time', sa.BigInteger(), nullable=True))
    _backfill()
    op.create_index('ix_archive_event_time', 'archive',
                    ['event_time', 'topic', 'partition', 'seq'], unique=False)


def _backfill() -> None:
    """Archives made before this revision: each record's ce_time header, as archiving now
    keeps it (services/audit/service_layer/archiving.py)."""
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    if not bind.execute(sa.text("SELECT 1 FROM archive LIMIT 1")).first():
        return  # a new archive: nothing to fill, and the triggers stay untouched
    if postgres:
        op.execute(sa.text("ALTER TABLE archive DISABLE TRIGGER archive_append_only"))
    else:
        for action in ('update', 'delete'):
            op.execute(sa.text(f"DROP TRIGGER archive_no_{action}"))
    after = ('', -1, -1)
    select = sa.text("SELECT topic, partition, seq, headers FROM archive "
                     "WHERE (topic, partition, seq) > (:t, :p, :s) "
                     "ORDER BY topic, partition, seq LIMIT :n")
    update = sa.text("UPDATE archive SET event_time = :at "
                     "WHERE topic = :t AND partition = :p AND seq = :s")
    while rows := bind.execute(select, {"t": after[0], "p": after[1], "s": after[2],
                                        "n": _BATCH}).all():
        changes = []
        for topic, partition, seq, headers in rows:
            pairs = json.loads(bytes(headers))
            at = micros(next((v for k, v in pairs if k == 'ce_time'), None))
            if at is not None:
                changes.append({"at": at, "t": topic, "p": partition, "s": seq})
        if changes:
            bind.execute(update, changes)
        after = tuple(rows[-1][:3])
    if postgres:
        op.execute(sa.text("ALTER TABLE archive ENABLE TRIGGER archive_append_only"))
    else:
        for action in ('update', 'delete'):
            op.execute(sa.text(_SQLITE_TRIGGER.format(action=action, ACTION=action.upper())))


def downgrade() -> None:
    op.drop_index('ix_archive_event_time', table_name='archive')
    op.drop_column('archive', 'event_time')
