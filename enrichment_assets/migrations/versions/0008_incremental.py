"""incremental stages (issue 13): the stat of each processed scrape file, and what each
normalized row was normalized from

``scrape_files.size`` (bytes) and ``scrape_files.mtime_ns`` (ns since the epoch): a landing
file at the recorded path with the same size and mtime is not read or hashed again. NULL on
rows written before this migration (such a file is hashed once more, then recorded).

``normalized_records.raw_hash`` (the raw record's ``payload_hash``) and
``normalized_records.normalizer_version``: a listing whose raw record and normalizer are
unchanged is not normalized again. NULL on older rows (normalized once more).

``rule_checks``: per organization, listing and target (``profile`` or a language), the hash
of what the hallucination rules last checked and the rules' version; both unchanged -> the
stored violations stand and the item is not checked again. Empty at first (all checked once).

Revision ID: 0008_incremental
Revises: 0007_published_profiles
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_incremental'
down_revision = '0007_published_profiles'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('mtime_ns', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('normalized_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('normalizer_version', sa.String(length=100), nullable=True))
    op.create_table('rule_checks',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('input_hash', sa.String(length=64), nullable=False),
    sa.Column('rules_version', sa.String(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id', 'target')
    )


def downgrade() -> None:
    op.drop_table('rule_checks')
    with op.batch_alter_table('normalized_records', schema=None) as batch_op:
        batch_op.drop_column('normalizer_version')
        batch_op.drop_column('raw_hash')
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.drop_column('mtime_ns')
        batch_op.drop_column('size')
