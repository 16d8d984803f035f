"""partner credentials: the replaced ones, accepted until their overlap ends

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00

partner_credentials keeps each department's newest credential as before; a credential replaced
by ``onedoor partners issue-credential`` moves here with the moment it stops being accepted.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('retiring_partner_credentials',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    with op.batch_alter_table('retiring_partner_credentials', schema=None) as batch_op:
        batch_op.create_index('ix_retiring_partner_credentials_department', ['department'],
                              unique=False)


def downgrade() -> None:
    # The newest credential of each department stays; the ones still in their overlap end now.
    op.drop_table('retiring_partner_credentials')
