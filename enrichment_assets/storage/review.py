"""SQL of the review queue (issue 12): decisions (``review_decisions``) and which published
profiles a reviewer approved.

An approval *holds* while the listing's published profile is the one approved (same
``published_version`` and ``published_content_hash``) and its latest attempt is neither
``quarantined`` nor ``rejected``; the ``published_profiles`` view (migration
``0009_review_decisions``) applies the same rule in SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from enrichment_assets.storage.schema import llm_profiles, review_decisions


def approval_holds() -> sa.ColumnElement[bool]:
    """A SQL condition over ``llm_profiles``: an approval holds for the row's published profile."""
    p, r = llm_profiles, review_decisions
    return sa.and_(
        p.c.status.not_in(["quarantined", "rejected"]),
        sa.exists().where(r.c.organization == p.c.organization, r.c.external_id == p.c.external_id,
                          r.c.decision == "approved", r.c.published_version == p.c.published_version,
                          r.c.content_hash == p.c.published_content_hash))


def approved_ids(conn: sa.Connection, organization: str) -> set[str]:
    """External ids of ``organization`` whose published profile is approved (approval holds)."""
    p = llm_profiles
    return set(conn.execute(sa.select(p.c.external_id).where(
        p.c.organization == organization, approval_holds())).scalars())


def insert_decision(conn: sa.Connection, row: dict[str, Any]) -> None:
    """Append one decision row (columns of :data:`review_decisions` without ``id``)."""
    conn.execute(sa.insert(review_decisions), [row])


def load_decisions(conn: sa.Connection, organization: str, external_id: str) -> list[dict[str, Any]]:
    """Every decision about one listing, oldest first."""
    r = review_decisions
    return [dict(x) for x in conn.execute(sa.select(r).where(
        r.c.organization == organization, r.c.external_id == external_id).order_by(r.c.id)).mappings()]
