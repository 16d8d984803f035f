"""case_areas: where each case is handled, for jurisdiction checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'case_areas',
        sa.Column('case_id', sa.String(length=40), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=False),
        sa.Column('town_code', sa.String(length=9), nullable=True),
        sa.PrimaryKeyConstraint('case_id'),
    )
    # Cases paid before: their district, from what payment already holds; no town was known.
    op.execute(
        "INSERT INTO case_areas (case_id, region_code) "
        "SELECT case_id, MIN(region_code) FROM ("
        " SELECT case_id, region_code FROM entitlements"
        " UNION ALL SELECT case_id, region_code FROM payments"
        ") known GROUP BY case_id")


def downgrade() -> None:
    op.drop_table('case_areas')
