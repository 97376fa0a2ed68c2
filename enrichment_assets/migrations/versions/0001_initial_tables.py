"""initial tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('llm_profiles',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('profile', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('error_class', sa.String(length=100), nullable=True),
    sa.Column('raw_output', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('prompt_version', sa.String(length=100), nullable=False),
    sa.Column('model_requested', sa.String(length=200), nullable=False),
    sa.Column('model_used', sa.String(length=200), nullable=True),
    sa.Column('input_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cost_usd', sa.Float(), server_default='0', nullable=False),
    sa.Column('latency_ms', sa.Float(), server_default='0', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id')
    )
    with op.batch_alter_table('llm_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_llm_profiles_status'), ['status'], unique=False)

    op.create_table('normalized_records',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('species', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('listing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id')
    )
    op.create_table('quality_scores',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('profile_hash', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id')
    )
    op.create_table('raw_records',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('scrape_sha256', sa.String(length=64), nullable=False),
    sa.Column('scraped_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('organization', 'external_id')
    )
    op.create_table('rejected_records',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('record_ref', sa.String(length=300), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('scrape_sha256', sa.String(length=64), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rejected_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'stage', 'record_ref')
    )
    op.create_table('scrape_files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('scrape_id', sa.String(length=200), nullable=True),
    sa.Column('full_scrape', sa.Boolean(), nullable=False),
    sa.Column('scraped_at', sa.DateTime(), nullable=True),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrape_files_organization'), ['organization'], unique=False)

    op.create_table('translations',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('tagline', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('error_class', sa.String(length=100), nullable=True),
    sa.Column('raw_output', sa.Text(), nullable=True),
    sa.Column('prompt_version', sa.String(length=100), nullable=False),
    sa.Column('model_requested', sa.String(length=200), nullable=False),
    sa.Column('model_used', sa.String(length=200), nullable=True),
    sa.Column('input_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cost_usd', sa.Float(), server_default='0', nullable=False),
    sa.Column('latency_ms', sa.Float(), server_default='0', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id', 'language')
    )


def downgrade() -> None:
    op.drop_table('translations')
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrape_files_organization'))

    op.drop_table('scrape_files')
    op.drop_table('rejected_records')
    op.drop_table('raw_records')
    op.drop_table('quality_scores')
    op.drop_table('normalized_records')
    with op.batch_alter_table('llm_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_profiles_status'))

    op.drop_table('llm_profiles')
