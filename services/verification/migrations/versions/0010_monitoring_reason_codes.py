"""monitoring reasons: a code and its figures, not "中文 | English" text

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 10:00:00

Early warnings and discovery leads keep why they were raised as a code and its parameters
(JSON), rendered in the reader's language when read (issue 26). The rows raised before keep
their words in ``reason`` and read as the code ``legacy_text``; new rows leave it empty.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('early_warnings', 'discovery_leads')


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column('reason_code', sa.String(length=40), nullable=True))
        op.add_column(table, sa.Column('reason_params', sa.Text(), nullable=True))
        op.execute(f"UPDATE {table} SET reason_code = 'legacy_text', reason_params = '{{}}' "
                   "WHERE reason_code IS NULL")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('reason_code', existing_type=sa.String(length=40),
                                  nullable=False)
            batch_op.alter_column('reason_params', existing_type=sa.Text(), nullable=False)
            batch_op.alter_column('reason', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # The words of a row raised since are made when it is read, by code this revision cannot
    # freeze; the old schema gets its code and figures as they are, which a person can still read.
    for table in TABLES:
        op.execute(f"UPDATE {table} SET reason = reason_code || ' ' || reason_params "
                   "WHERE reason IS NULL")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('reason', existing_type=sa.Text(), nullable=False)
            batch_op.drop_column('reason_params')
            batch_op.drop_column('reason_code')
