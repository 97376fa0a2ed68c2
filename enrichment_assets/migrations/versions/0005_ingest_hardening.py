"""ingest hardening: scrape files per organization, quarantine and held removals, cut fields

Revision ID: 0005_ingest_hardening
Revises: 0004
Create Date: 2026-12-10

``scrape_files`` was keyed on ``sha256`` alone, so two organizations could not hold the
same bytes; it is now keyed on ``(organization, sha256)`` and records the file's trust
status (applied / quarantined / held), its reason, held removals, the run and counts of
cut and removed listings. ``raw_records.cut_reason`` records a field cut to its maximum.
The table is rebuilt (create, copy, drop, rename): the primary key changes, which SQLite
cannot alter in place. Existing rows become ``applied``.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0005_ingest_hardening'
down_revision = '0004'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_OLD_COLUMNS = ("sha256, organization, path, scrape_id, full_scrape, scraped_at, lines, accepted, "
                "rejected, processed_at")


def _rename_pkey(new_name: str, old_name: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER TABLE scrape_files RENAME CONSTRAINT "{old_name}" TO "{new_name}"')


def upgrade() -> None:
    op.create_table('scrape_files_new',
    sa.Column('organization', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('scrape_id', sa.String(length=200), nullable=True),
    sa.Column('full_scrape', sa.Boolean(), nullable=False),
    sa.Column('scraped_at', sa.DateTime(), nullable=True),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('cut', sa.Integer(), server_default='0', nullable=False),
    sa.Column('removed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='applied', nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('held_removals', _JSON, nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('processed_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('organization', 'sha256')
    )
    op.execute(f"INSERT INTO scrape_files_new ({_OLD_COLUMNS}) SELECT {_OLD_COLUMNS} FROM scrape_files")
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrape_files_organization'))
    op.drop_table('scrape_files')
    op.rename_table('scrape_files_new', 'scrape_files')
    _rename_pkey('scrape_files_pkey', 'scrape_files_new_pkey')
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrape_files_status'), ['status'], unique=False)
    with op.batch_alter_table('raw_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cut_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('raw_records', schema=None) as batch_op:
        batch_op.drop_column('cut_reason')
    op.create_table('scrape_files_old',
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
    # the old key holds one row per sha256: keep the first organization's
    op.execute(f"INSERT INTO scrape_files_old ({_OLD_COLUMNS}) SELECT {_OLD_COLUMNS} FROM scrape_files s "
               "WHERE s.organization = (SELECT min(t.organization) FROM scrape_files t WHERE t.sha256 = s.sha256)")
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrape_files_status'))
    op.drop_table('scrape_files')
    op.rename_table('scrape_files_old', 'scrape_files')
    _rename_pkey('scrape_files_pkey', 'scrape_files_old_pkey')
    with op.batch_alter_table('scrape_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrape_files_organization'), ['organization'], unique=False)
