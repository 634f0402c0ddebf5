"""timers: index on task_id (a task done or withdrawn drops its reminder and expiry by task id)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 00:40:00
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_timers_task_id', 'timers', ['task_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_timers_task_id', table_name='timers')
