"""ix_tasks_inbox also covers case_id: the 待办 party filter (当事人/案号) tests it from the index
instead of reading every candidate task row

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERED_0011 = ["process_key", "stage", "created_at", "priority"]


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_inbox")
        batch_op.create_index(
            "ix_tasks_inbox", ["state", "assignee", "unit_code", "due_at", *COVERED_0011, "case_id", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_inbox")
        batch_op.create_index(
            "ix_tasks_inbox", ["state", "assignee", "unit_code", "due_at", *COVERED_0011, "id"]
        )
