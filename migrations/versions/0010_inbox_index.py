"""ix_tasks_inbox: a partial index over open tasks for the 待办 page (covering on PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.create_index(
            "ix_tasks_inbox",
            ["assignee", "unit_code", "due_at", "id"],
            unique=False,
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
            postgresql_include=["process_key", "stage", "created_at", "priority"],
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_inbox")
