"""tasks: index for the inbox's done-by-me list

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 23:25:00
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tasks_done_by', 'tasks', ['completed_by', 'status', 'completed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tasks_done_by', table_name='tasks')
