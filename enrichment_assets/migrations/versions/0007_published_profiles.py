"""published_profiles: the published profiles as a view a website can read (issue 12)

One row per published listing and language: ``en`` (the profile's own text) plus every
``ok`` translation written since the profile was published. A listing is in the view when
it has a published profile, is still active (normalized), its latest attempt is not
``quarantined`` (under review) and its published profile has no stored ERROR violation; a
translation is left out when it has an ERROR violation. Columns: organization, external_id,
language, display_name, tagline, description, facts (the normalized listing, JSON), profile
(the published DogProfile, JSON, English), quality_score (0-100, NULL before scoring),
needs_review, model (that wrote the profile), translation_model (NULL for ``en``),
prompt_version, version (published version), updated_at (published at, or translated at).

The view is SQL per dialect (JSON access differs). SQLite refuses to rename a table that a
view names, which Alembic's batch mode does when it rebuilds a table; ``env.py`` therefore
turns on ``PRAGMA legacy_alter_table`` for migrations (``allow_renames_under_views``), so
later migrations may batch-alter the tables this view reads. A migration that drops or
renames a column the view uses must drop and create the view again.

Revision ID: 0007_published_profiles
Revises: 0006_model_stage
Create Date: 2026-12-02
"""
from alembic import op


revision = '0007_published_profiles'
down_revision = '0006_model_stage'
branch_labels = None
depends_on = None


def _view_sql(dialect: str) -> str:
    if dialect == "postgresql":
        text = lambda column, key: f"{column}->>'{key}'"  # noqa: E731
    else:
        text = lambda column, key: f"json_extract({column}, '$.{key}')"  # noqa: E731
    published = f"""
        FROM llm_profiles p
        JOIN normalized_records n ON n.organization = p.organization AND n.external_id = p.external_id
        LEFT JOIN quality_scores q ON q.organization = p.organization AND q.external_id = p.external_id
        WHERE p.published_profile IS NOT NULL AND p.status <> 'quarantined'
          AND NOT EXISTS (SELECT 1 FROM violations v WHERE v.organization = p.organization
                          AND v.external_id = p.external_id AND v.target = 'profile' AND v.severity = 'error')"""
    return f"""
CREATE VIEW published_profiles AS
SELECT p.organization, p.external_id, 'en' AS language,
       {text('n.listing', 'name')} AS display_name,
       {text('p.published_profile', 'tagline')} AS tagline,
       {text('p.published_profile', 'description')} AS description,
       n.listing AS facts, p.published_profile AS profile, q.score AS quality_score, q.needs_review,
       p.published_model AS model, CAST(NULL AS VARCHAR(200)) AS translation_model,
       p.published_prompt_version AS prompt_version, p.published_version AS version,
       p.published_at AS updated_at
{published}
UNION ALL
SELECT p.organization, p.external_id, t.language,
       {text('n.listing', 'name')} AS display_name, t.tagline, t.description,
       n.listing AS facts, p.published_profile AS profile, q.score AS quality_score, q.needs_review,
       p.published_model AS model, t.model_answered AS translation_model,
       p.published_prompt_version AS prompt_version, p.published_version AS version,
       t.updated_at AS updated_at
{published.replace("LEFT JOIN quality_scores", '''JOIN translations t ON t.organization = p.organization
             AND t.external_id = p.external_id AND t.status = 'ok' AND t.updated_at >= p.published_at
        LEFT JOIN quality_scores''')}
          AND NOT EXISTS (SELECT 1 FROM violations w WHERE w.organization = t.organization
                          AND w.external_id = t.external_id AND w.target = t.language AND w.severity = 'error')
"""


def upgrade() -> None:
    op.execute(_view_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS published_profiles")
