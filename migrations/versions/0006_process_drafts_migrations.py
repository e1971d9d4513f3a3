"""process owners: modeller drafts and instance migrations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "process_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("base_sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "file_name"),
    )
    op.create_table(
        "instance_migrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("from_definition_id", sa.Integer(), nullable=False),
        sa.Column("to_definition_id", sa.Integer(), nullable=False),
        sa.Column("from_pins", sa.JSON(), nullable=False),
        sa.Column("to_pins", sa.JSON(), nullable=False),
        sa.Column("state_before", sa.Text(), nullable=False),
        sa.Column("serializer_version_before", sa.String(length=16), nullable=False),
        sa.Column("tasks_before", sa.JSON(), nullable=False),
        sa.Column("lock_version_after", sa.Integer(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("migrated_by", sa.String(length=64), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_by", sa.String(length=64), nullable=True),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.ForeignKeyConstraint(["from_definition_id"], ["definitions.id"]),
        sa.ForeignKeyConstraint(["to_definition_id"], ["definitions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_migrations_instance_id", "instance_migrations", ["instance_id"])


def downgrade() -> None:
    op.drop_index("ix_instance_migrations_instance_id", table_name="instance_migrations")
    op.drop_table("instance_migrations")
    op.drop_table("process_drafts")
