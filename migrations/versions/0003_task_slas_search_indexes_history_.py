"""task SLAs, search indexes, history archive, append-only audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:10:51.017672
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# One statement each: asyncpg prepares every statement on its own.
APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
]


def upgrade() -> None:
    # The database itself refuses to change the audit trail.
    for statement in APPEND_ONLY:
        op.execute(statement)
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # A case may ask the same kind twice in one round (registry follow-ups).
    op.drop_constraint("uq_human_tasks_case_kind_round", "human_tasks", type_="unique")
    op.create_table('case_histories',
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('workflow_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('history', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_id', 'run_id')
    )
    op.create_index(op.f('ix_case_histories_closed_at'), 'case_histories', ['closed_at'], unique=False)
    op.add_column('ocr_results', sa.Column('from_cache', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('loans', sa.Column('guarantor_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
    op.add_column('cases', sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('cases', sa.Column('sla_breached', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_index(op.f('ix_cases_assignee'), 'cases', ['assignee'], unique=False)
    op.create_index('ix_cases_branch_created', 'cases', ['branch', 'created_at', 'case_id'], unique=False)
    op.create_index('ix_cases_created_case', 'cases', ['created_at', 'case_id'], unique=False)
    op.create_index('ix_cases_search_trgm', 'cases', [sa.literal_column("(loan_contract_no || ' ' || plate_no || ' ' || borrower_name) gin_trgm_ops")], unique=False, postgresql_using='gin')
    op.create_index(op.f('ix_cases_sla_breached'), 'cases', ['sla_breached'], unique=False)
    op.add_column('human_tasks', sa.Column('queue', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='operator', nullable=False))
    op.add_column('human_tasks', sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('human_tasks', sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('human_tasks', sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_human_tasks_due_at'), 'human_tasks', ['due_at'], unique=False)
    # ### end Alembic commands ###


def downgrade() -> None:
    op.create_unique_constraint(
        "uq_human_tasks_case_kind_round", "human_tasks", ["case_id", "kind", "round"]
    )
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_index(op.f('ix_human_tasks_due_at'), table_name='human_tasks')
    op.drop_column('human_tasks', 'escalated_at')
    op.drop_column('human_tasks', 'reminded_at')
    op.drop_column('human_tasks', 'claimed_at')
    op.drop_column('human_tasks', 'queue')
    op.drop_index(op.f('ix_cases_sla_breached'), table_name='cases')
    op.drop_index('ix_cases_search_trgm', table_name='cases', postgresql_using='gin')
    op.drop_index('ix_cases_created_case', table_name='cases')
    op.drop_index('ix_cases_branch_created', table_name='cases')
    op.drop_index(op.f('ix_cases_assignee'), table_name='cases')
    op.drop_column('cases', 'sla_breached')
    op.drop_column('loans', 'guarantor_email')
    op.drop_column('ocr_results', 'from_cache')
    op.drop_column('cases', 'assignee')
    op.drop_index(op.f('ix_case_histories_closed_at'), table_name='case_histories')
    op.drop_table('case_histories')
    # ### end Alembic commands ###
