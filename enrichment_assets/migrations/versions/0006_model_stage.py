"""model stage: published profile apart from the latest attempt, profile history, daily
spend counter, answering model, unknown cost as NULL

Revision ID: 0006_model_stage
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


revision = '0006_model_stage'
down_revision = '0005_ingest_hardening'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table('llm_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_answered', sa.String(length=200), nullable=True))
        batch_op.alter_column('cost_usd', existing_type=sa.Float(), nullable=True, server_default=None)
        batch_op.add_column(sa.Column('published_profile', JSONType, nullable=True))
        batch_op.add_column(sa.Column('published_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('published_content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('published_prompt_version', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('published_model', sa.String(length=200), nullable=True))
    with op.batch_alter_table('translations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_answered', sa.String(length=200), nullable=True))
        batch_op.alter_column('cost_usd', existing_type=sa.Float(), nullable=True, server_default=None)
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_answered', sa.String(length=200), nullable=True))
        batch_op.alter_column('cost_usd', existing_type=sa.Float(), nullable=True)
    # what is stored as ok today is what is published: it becomes version 1
    op.execute("UPDATE llm_profiles SET published_profile = profile, published_version = 1, "
               "published_at = updated_at, published_content_hash = content_hash, "
               "published_prompt_version = prompt_version, published_model = model_requested, "
               "model_answered = model_requested WHERE status = 'ok'")
    op.create_table('profile_versions',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('profile', JSONType, nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('prompt_version', sa.String(length=100), nullable=False),
    sa.Column('model_answered', sa.String(length=200), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('organization', 'external_id', 'version')
    )
    op.execute("INSERT INTO profile_versions (organization, external_id, version, profile, content_hash, "
               "prompt_version, model_answered, published_at) SELECT organization, external_id, 1, profile, "
               "content_hash, prompt_version, model_requested, updated_at FROM llm_profiles WHERE status = 'ok'")
    op.create_table('llm_spend_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('spent_usd', sa.Float(), nullable=False),
    sa.Column('reserved_usd', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )


def downgrade() -> None:
    op.drop_table('llm_spend_days')
    op.drop_table('profile_versions')
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.drop_column('model_answered')
    with op.batch_alter_table('translations', schema=None) as batch_op:
        batch_op.drop_column('model_answered')
    with op.batch_alter_table('llm_profiles', schema=None) as batch_op:
        for column in ('published_model', 'published_prompt_version', 'published_content_hash',
                       'published_at', 'published_version', 'published_profile', 'model_answered'):
            batch_op.drop_column(column)
