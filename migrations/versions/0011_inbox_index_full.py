"""ix_tasks_inbox over all tasks, led by state and covering every 待办 filter and sort: SQLite cannot use the partial index of 0010 with a
bound state, so its 待办 count read the table

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDE = ["process_key", "stage", "created_at", "priority"]


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_inbox")
        batch_op.create_index("ix_tasks_inbox", ["state", "assignee", "unit_code", "due_at", *INCLUDE, "id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_inbox")
        batch_op.create_index(
            "ix_tasks_inbox",
            ["assignee", "unit_code", "due_at", "id"],
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
            postgresql_include=INCLUDE,
        )
