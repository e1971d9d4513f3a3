"""case statistics: 违约金, opening process, institution type, clue source, referral destination, result

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_COLUMNS = (
    ("kind", 64),
    ("institution_type", 32),
    ("clue_source", 32),
    ("referral_destination", 64),
    ("referral_result", 64),
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("liquidated_damages", sa.Numeric(precision=14, scale=2), nullable=True))
        for name, length in TEXT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_cases_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_opened_at"), ["opened_at"], unique=False)
    # Existing cases: the kind is the process of the first instance that worked on the case.
    op.execute(
        "UPDATE cases SET kind = COALESCE((SELECT process_key FROM process_instances p "
        "WHERE p.case_id = cases.id ORDER BY p.id LIMIT 1), '')"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_opened_at"))
        batch_op.drop_index(batch_op.f("ix_cases_kind"))
        for name, _ in reversed(TEXT_COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("liquidated_damages")
