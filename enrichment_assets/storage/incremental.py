"""SQL of the incremental stages (issue 13): what a stage reads to decide, per item, whether
its stored result still stands."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from enrichment_assets.storage.schema import normalized_records, quality_scores


def listing_documents(conn: sa.Connection, organization: str, external_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """External id -> the stored normalized listing (the ``listing`` JSON as a dict, not
    validated) of the given ids of ``organization`` that have one."""
    n = normalized_records.c
    if not external_ids:
        return {}
    query = sa.select(n.external_id, n.listing).where(n.organization == organization,
                                                      n.external_id.in_(sorted(external_ids)))
    return {r.external_id: r.listing for r in conn.execute(query)}


def stored_scores(conn: sa.Connection, organization: str) -> dict[str, dict[str, Any]]:
    """External id -> the stored ``quality_scores`` row of ``organization`` (every column)."""
    q = quality_scores.c
    return {r["external_id"]: dict(r) for r in conn.execute(
        sa.select(quality_scores).where(q.organization == organization)).mappings()}
