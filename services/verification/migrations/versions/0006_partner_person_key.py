"""partner records found by a 32-bit key of the person's pseudonym, not the pseudonym itself

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:00:00
"""
import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _person_key(person_ref: str) -> int:
    # Frozen copy of adapters.repositories.partners.person_key as of this revision: a migration must
    # compute what it computed then, whatever the code says later.
    return zlib.crc32(person_ref.encode()) - 2**31


def upgrade() -> None:
    op.add_column('partner_records', sa.Column('person_key', sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    refs = [r for (r,) in conn.execute(sa.text("SELECT DISTINCT person_ref FROM partner_records"))]
    for start in range(0, len(refs), 10_000):
        conn.execute(sa.text("UPDATE partner_records SET person_key = :key "
                             "WHERE person_ref = :ref"),
                     [{"key": _person_key(r), "ref": r} for r in refs[start:start + 10_000]])
    with op.batch_alter_table('partner_records', schema=None) as batch_op:
        batch_op.alter_column('person_key', existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(batch_op.f('ix_partner_records_person_key'), ['person_key'],
                              unique=False)
        batch_op.drop_index(batch_op.f('ix_partner_records_person_ref'))


def downgrade() -> None:
    with op.batch_alter_table('partner_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_records_person_ref'), ['person_ref'],
                              unique=False)
        batch_op.drop_index(batch_op.f('ix_partner_records_person_key'))
        batch_op.drop_column('person_key')
