"""partner publications (bulk files), their rejected lines; graded records and their publication

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partner_publications',
    sa.Column('publication_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('department', sa.String(length=50), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_through', sa.BigInteger(), nullable=False),
    sa.Column('lines', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('upserted', sa.BigInteger(), nullable=False),
    sa.Column('deleted', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('publication_id'),
    sa.UniqueConstraint('department', 'digest', name='uq_partner_publications_digest')
    )
    op.create_index('ix_partner_publications_department', 'partner_publications', ['department', 'publication_id'], unique=False)
    op.create_table('partner_publication_rejections',
    sa.Column('publication_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['partner_publications.publication_id'], ),
    sa.PrimaryKeyConstraint('publication_id', 'line_no')
    )
    # In place, as 0003 does: records sent before have no grade and no publication.
    op.add_column('partner_records', sa.Column('grade', sa.SmallInteger(), nullable=True))
    op.add_column('partner_records', sa.Column('publication_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('partner_records', 'publication_id')
    op.drop_column('partner_records', 'grade')
    op.drop_table('partner_publication_rejections')
    op.drop_index('ix_partner_publications_department', table_name='partner_publications')
    op.drop_table('partner_publications')
