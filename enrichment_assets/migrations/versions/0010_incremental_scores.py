"""incremental quality scores (issue 13): what each stored score was computed from

``quality_scores.input_hash``: sha256 hex of everything the rubric read for the profile (the
stored normalized listing, the published profile with its version and listing hash, the
profile's stored rule violations in order, the organization's cliche list and the repeated
sentences the profile contains; ``pipeline.quality.score_input_hash``), and
``quality_scores.rubric_version`` (``pipeline.quality.rubric_version()``). Both unchanged ->
the stored score stands and the profile is not scored again. NULL on rows written before
this migration (such a profile is scored once more).

Data fix: ``enrichment review reject`` of a published profile used to store a JSON ``null``
in ``llm_profiles.published_profile`` (not SQL NULL), which every ``published_profile IS NOT
NULL`` read as published. Rows with no ``published_version`` (only such rejections) get SQL
NULL. Not undone by the downgrade (SQL NULL is what the columns mean).

Revision ID: 0010_incremental_scores
Revises: 0009_review_decisions
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_incremental_scores'
down_revision = '0009_review_decisions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quality_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('rubric_version', sa.String(length=100), nullable=True))
    op.execute("UPDATE llm_profiles SET published_profile = NULL "
               "WHERE published_version IS NULL AND published_profile IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('quality_scores', schema=None) as batch_op:
        batch_op.drop_column('rubric_version')
        batch_op.drop_column('input_hash')
