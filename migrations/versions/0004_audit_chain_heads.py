"""audit chain heads: the last seq and hash of every audit stream

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One statement each: asyncpg prepares every statement on its own.
HEAD_TRIGGERS = [
    # Every insert into audit_events moves its stream's head forward, in the
    # same transaction, whoever the writer is.
    """CREATE OR REPLACE FUNCTION audit_heads_advance() RETURNS trigger AS $$
    BEGIN
        INSERT INTO audit_heads (stream, seq, hash, event_id, updated_at)
        VALUES (NEW.stream, NEW.seq, NEW.hash, NEW.id, now())
        ON CONFLICT (stream) DO UPDATE
            SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
                event_id = EXCLUDED.event_id, updated_at = EXCLUDED.updated_at
            WHERE audit_heads.seq < EXCLUDED.seq;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_events_advance_head
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_heads_advance()""",
    # A head only ever moves forward: winding it back would hide deleted records.
    """CREATE OR REPLACE FUNCTION audit_heads_forward_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.stream = OLD.stream AND NEW.seq > OLD.seq THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_heads only move forward: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_heads_no_rewind
    BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only()""",
    """CREATE TRIGGER audit_heads_no_truncate
    BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_heads_forward_only()""",
]

BACKFILL = """INSERT INTO audit_heads (stream, seq, hash, event_id, updated_at)
SELECT DISTINCT ON (stream) stream, seq, hash, id, now()
FROM audit_events ORDER BY stream, seq DESC"""


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    # Streams written before this revision get their current end as head.
    op.execute(BACKFILL)
    for statement in HEAD_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_advance_head ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_heads_advance()")
    # Dropping the table drops its own triggers; the function goes after them.
    op.drop_table("audit_heads")
    op.execute("DROP FUNCTION IF EXISTS audit_heads_forward_only()")
