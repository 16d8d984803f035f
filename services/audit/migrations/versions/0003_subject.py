"""the archive's event subject: each share of a parallel replay picks its cases without the
headers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:00:00
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0002: the append-only triggers of 0001 lifted for the backfill, in the same transaction.
_SQLITE_TRIGGER = """
    CREATE TRIGGER archive_no_{action} BEFORE {ACTION} ON archive
    BEGIN SELECT RAISE(ABORT, 'the archive is append-only'); END"""
_BATCH = 5_000


def upgrade() -> None:
    # Text, not a bounded string: a subject is whatever the publisher put in ce_subject, and an
    # event is archived whatever it says. Not indexed: the replay reads it along the time index.
    op.add_column('archive', sa.Column('subject', sa.Text(), nullable=True))
    _backfill()


def _backfill() -> None:
    """Archives made before this revision: each record's first ce_subject header, as archiving
    now keeps it (services/audit/service_layer/archiving.py)."""
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
    update = sa.text("UPDATE archive SET subject = :subject "
                     "WHERE topic = :t AND partition = :p AND seq = :s")
    while rows := bind.execute(select, {"t": after[0], "p": after[1], "s": after[2],
                                        "n": _BATCH}).all():
        changes = []
        for topic, partition, seq, headers in rows:
            pairs = json.loads(bytes(headers))
            subject = next((v for k, v in pairs if k == 'ce_subject'), None)
            if subject is not None:
                changes.append({"subject": subject, "t": topic, "p": partition, "s": seq})
        if changes:
            bind.execute(update, changes)
        after = tuple(rows[-1][:3])
    if postgres:
        op.execute(sa.text("ALTER TABLE archive ENABLE TRIGGER archive_append_only"))
    else:
        for action in ('update', 'delete'):
            op.execute(sa.text(_SQLITE_TRIGGER.format(action=action, ACTION=action.upper())))


def downgrade() -> None:
    op.drop_column('archive', 'subject')
