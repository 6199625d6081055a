"""incidents and faults: longer decision refs, outbox delivery attempts, registry callback
receipts; the case row's round and missing documents

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column(
        "cases", sa.Column("round", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.add_column(
        "cases",
        sa.Column(
            "missing_documents",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.alter_column(
        "decisions",
        "decision_ref",
        existing_type=AutoString(length=96),
        type_=AutoString(length=200),
        existing_nullable=False,
    )
    op.add_column(
        "notifications",
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "notifications", sa.Column("last_error", AutoString(length=500), nullable=True)
    )
    op.add_column("notifications", sa.Column("subject", AutoString(length=200), nullable=True))
    op.create_table(
        "registry_callbacks",
        sa.Column("callback_id", AutoString(length=128), nullable=False),
        sa.Column("idempotency_key", AutoString(length=96), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("callback_id"),
    )
    op.create_index(
        op.f("ix_registry_callbacks_idempotency_key"),
        "registry_callbacks",
        ["idempotency_key"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_column("cases", "missing_documents")
    op.drop_column("cases", "round")
    op.drop_index(op.f("ix_registry_callbacks_idempotency_key"), table_name="registry_callbacks")
    op.drop_table("registry_callbacks")
    op.drop_column("notifications", "subject")
    op.drop_column("notifications", "last_error")
    op.drop_column("notifications", "last_attempt_at")
    op.alter_column(
        "decisions",
        "decision_ref",
        existing_type=AutoString(length=200),
        type_=AutoString(length=96),
        existing_nullable=False,
    )
