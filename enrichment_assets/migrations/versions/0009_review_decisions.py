"""review_decisions: the review queue's decisions; published_profiles respects approvals (issue 12)

``review_decisions`` holds one row per decision (approved / rejected) with who (reviewer),
when (decided_at, UTC) and why (note), and the attempt it is about (its content hash,
prompt version and the published version it concerns).

The ``published_profiles`` view is created again with two changes against
``0007_published_profiles``: a listing whose latest attempt was ``rejected`` is left out
(until it is profiled again), and a published profile with a stored ERROR violation is kept
when a reviewer approved exactly that published version (same ``published_version`` and
``published_content_hash``): an approval holds only for the attempt approved.

Revision ID: 0009_review_decisions
Revises: 0008_incremental
Create Date: 2026-12-02
"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


revision = '0009_review_decisions'
down_revision = '0008_incremental'
branch_labels = None
depends_on = None

_APPROVED = """EXISTS (SELECT 1 FROM review_decisions r WHERE r.organization = p.organization
                          AND r.external_id = p.external_id AND r.decision = 'approved'
                          AND r.published_version = p.published_version
                          AND r.content_hash = p.published_content_hash)"""


def _view_0007():
    spec = importlib.util.spec_from_file_location(
        "_view_0007", Path(__file__).with_name("0007_published_profiles.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._view_sql


def _view_sql(dialect: str) -> str:
    sql = _view_0007()(dialect)
    old_status = "p.status <> 'quarantined'"
    old_violation = "AND NOT EXISTS (SELECT 1 FROM violations v WHERE"
    assert sql.count(old_status) == 2 and sql.count(old_violation) == 2
    sql = sql.replace(old_status, "p.status NOT IN ('quarantined', 'rejected')")
    # "NOT EXISTS (violation)" becomes "(NOT EXISTS (violation) OR approved)"
    sql = sql.replace(old_violation, "AND (" + _APPROVED + " OR NOT EXISTS (SELECT 1 FROM violations v WHERE")
    sql = sql.replace("v.target = 'profile' AND v.severity = 'error')",
                      "v.target = 'profile' AND v.severity = 'error'))")
    return sql


def upgrade() -> None:
    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('attempt_status', sa.String(length=32), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('prompt_version', sa.String(length=100), nullable=False),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_review_decisions_listing', 'review_decisions', ['organization', 'external_id'], unique=False)
    op.execute("DROP VIEW IF EXISTS published_profiles")
    op.execute(_view_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS published_profiles")
    op.execute(_view_0007()(op.get_bind().dialect.name))
    op.drop_index('ix_review_decisions_listing', table_name='review_decisions')
    op.drop_table('review_decisions')
