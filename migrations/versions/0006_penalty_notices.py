"""penalty notice ledger (PN-3)

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'penalty_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('counter', sa.String(length=40), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=True),
        sa.Column('amount_paid', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.ForeignKeyConstraint(['pupil_id'], ['pupils.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id', 'contact_id'),
    )
    with op.batch_alter_table('penalty_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_penalty_notices_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_penalty_notices_pupil_id'), ['pupil_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('penalty_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_penalty_notices_pupil_id'))
        batch_op.drop_index(batch_op.f('ix_penalty_notices_contact_id'))
    op.drop_table('penalty_notices')
