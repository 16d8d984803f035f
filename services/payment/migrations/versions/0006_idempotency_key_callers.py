"""idempotency_keys: each key is its caller's (subject and jurisdiction), not global

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('scope', 'key', 'request_hash', 'status_code', 'body', 'created_at')


def _keys(name: str, *, scoped: bool) -> sa.Table:
    caller = [sa.Column('caller', sa.String(80), nullable=False, server_default='')]
    return op.create_table(
        name,
        *(caller if scoped else []),
        sa.Column('scope', sa.String(80), nullable=False),
        sa.Column('key', sa.String(200), nullable=False),
        sa.Column('request_hash', sa.String(64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*(['caller'] if scoped else []), 'scope', 'key'),
    )


# A new table copied into, not ALTER: the primary key changes, which SQLite cannot alter, and
# nothing refers to this table. Keys kept from before have caller "": payment honours one only
# for the identical request (service_layer/commands.py).
def upgrade() -> None:
    new = _keys('idempotency_keys_scoped', scoped=True)
    old = sa.table('idempotency_keys', *(sa.column(c) for c in _COLUMNS))
    op.execute(new.insert().from_select(_COLUMNS, sa.select(*(old.c[c] for c in _COLUMNS))))
    op.drop_table('idempotency_keys')
    op.rename_table('idempotency_keys_scoped', 'idempotency_keys')


def downgrade() -> None:
    # One row per scope and key survives: several callers' keys cannot share a global one.
    new = _keys('idempotency_keys_global', scoped=False)
    scoped = sa.table('idempotency_keys', sa.column('caller'), *(sa.column(c) for c in _COLUMNS))
    other = scoped.alias('other')
    first = (sa.select(sa.func.min(other.c.caller))
             .where(other.c.scope == scoped.c.scope, other.c.key == scoped.c.key)
             .scalar_subquery())
    op.execute(new.insert().from_select(_COLUMNS, sa.select(*(scoped.c[c] for c in _COLUMNS))
                                        .where(scoped.c.caller == first)))
    op.drop_table('idempotency_keys')
    op.rename_table('idempotency_keys_global', 'idempotency_keys')
