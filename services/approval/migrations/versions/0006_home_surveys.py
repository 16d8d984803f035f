"""home_surveys: the structured checklist of a survey taken on a phone (household situation and
living conditions, 最低生活保障审核确认办法 民发〔2021〕57号); survey_photos: the photos of
documents taken with it, kept in approval's own database (issue 26)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Surveys recorded before (with the acceptance, as a date, surveyors and findings) have no
    # checklist: the window shows them as they were.
    op.add_column('home_surveys', sa.Column('checklist', sa.Text(), nullable=True))
    op.create_table(
        'survey_photos',
        sa.Column('photo_id', sa.String(40), primary_key=True),
        sa.Column('survey_id', sa.String(40), nullable=False),
        sa.Column('case_id', sa.String(40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(40), nullable=False),
        sa.Column('content_type', sa.String(20), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_survey_photos_survey_id', 'survey_photos', ['survey_id'])
    op.create_index('ix_survey_photos_case_id', 'survey_photos', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_survey_photos_case_id', 'survey_photos')
    op.drop_index('ix_survey_photos_survey_id', 'survey_photos')
    op.drop_table('survey_photos')
    op.drop_column('home_surveys', 'checklist')
