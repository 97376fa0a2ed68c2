"""run_fingerprints: the inputs of each organization's last complete run (issue 11)

One row per organization: ``fingerprint`` (sha256 hex of its scrape files' stat, prompt
config, settings, model and code versions and review decisions), the Dagster ``run_id``
and ``recorded_at`` (naive UTC). ``enrichment run`` launches no Dagster work for an
organization whose fingerprint equals its row's.

Revision ID: 0011_run_fingerprints
Revises: 0010_incremental_scores
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_run_fingerprints'
down_revision = '0010_incremental_scores'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_fingerprints',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization')
    )


def downgrade() -> None:
    op.drop_table('run_fingerprints')
