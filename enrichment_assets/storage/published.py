"""Reading the ``published_profiles`` view (migration ``0007_published_profiles``).

The view is the published data a website reads: one row per published listing and language
(see the migration's docstring for which rows it holds). :data:`published_profiles` describes
its columns for SQLAlchemy; it lives in its own ``MetaData`` so ``metadata.create_all`` and
the schema comparison never treat it as a table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from enrichment_assets.storage.schema import JSONType

view_metadata = sa.MetaData()

published_profiles = sa.Table(
    "published_profiles",
    view_metadata,
    sa.Column("organization", sa.String(64)),
    sa.Column("external_id", sa.String(200)),
    sa.Column("language", sa.String(8)),
    sa.Column("display_name", sa.Text),
    sa.Column("tagline", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("facts", JSONType),
    sa.Column("profile", JSONType),
    sa.Column("quality_score", sa.Float),
    sa.Column("needs_review", sa.Boolean),
    sa.Column("model", sa.String(200)),
    sa.Column("translation_model", sa.String(200)),
    sa.Column("prompt_version", sa.String(100)),
    sa.Column("version", sa.Integer),
    sa.Column("updated_at", sa.DateTime),
)

#: Columns of the view, in order (the export's columns).
PUBLISHED_COLUMNS = [c.name for c in published_profiles.columns]


def load_published(engine: sa.Engine, organizations: Sequence[str] = (), languages: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of ``published_profiles`` (all, or of the given organizations / languages),
    ordered by organization, external id and language (``en`` first). ``facts`` and
    ``profile`` are dicts; ``quality_score`` is NaN before scoring; columns :data:`PUBLISHED_COLUMNS`."""
    v = published_profiles.c
    query = sa.select(published_profiles)
    if organizations:
        query = query.where(v.organization.in_(list(organizations)))
    if languages:
        query = query.where(v.language.in_(list(languages)))
    query = query.order_by(v.organization, v.external_id, sa.case((v.language == "en", 0), else_=1), v.language)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    frame = pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)
    if len(frame):
        frame["needs_review"] = frame["needs_review"].map(lambda x: None if x is None else bool(x))
    return frame
