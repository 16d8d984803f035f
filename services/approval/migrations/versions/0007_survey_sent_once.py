"""home_surveys.content_sha256: what a survey sent from the phone held. The phone names the
survey (a survey id made when its draft started, the row's primary key), so a resend after a
lost answer finds the survey the first send recorded: the same content is answered as the first
send was, different content under that id is refused (issue 26)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # None for the surveys recorded before, and for those recorded with a town's acceptance.
    op.add_column('home_surveys', sa.Column('content_sha256', sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column('home_surveys', 'content_sha256')
