"""deadline_items: the 超期督办 board's projection of open tasks and running legal clocks, back-filled

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadline_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("process", sa.String(length=128), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("bureau", sa.String(length=32), nullable=False),
        sa.Column("institution", sa.String(length=255), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_unverified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "item_id"),
    )
    op.create_index("ix_deadline_items_due", "deadline_items", ["due_at", "kind", "item_id"])
    op.create_index("ix_deadline_items_bureau_due", "deadline_items", ["bureau", "due_at"])
    op.create_index("ix_deadline_items_instance", "deadline_items", ["instance_id"])
    op.create_index("ix_deadline_items_case", "deadline_items", ["case_id"])
    from engine import deadlines  # the projection's own query fills it from tasks and legal_clocks

    deadlines.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("deadline_items")
