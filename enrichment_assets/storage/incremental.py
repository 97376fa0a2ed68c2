"""SQL of the incremental stages (issue 13): what a stage reads to decide, per item, whether
its stored result still stands."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from enrichment_assets.storage.database import rows_by_organization
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


def listing_documents_many(conn: sa.Connection, wanted: Mapping[str, Collection[str]]
                           ) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`listing_documents` of each organization of ``wanted`` (organization -> the
    external ids wanted): organization -> external id -> listing, read with one query per
    500 organizations (each organization's listings, filtered here)."""
    n = normalized_records.c
    orgs = [org for org, ids in wanted.items() if ids]
    grouped = rows_by_organization(conn, sa.select(n.organization, n.external_id, n.listing), n.organization, orgs)
    out: dict[str, dict[str, dict[str, Any]]] = {org: {} for org in wanted}
    for org in orgs:
        ids = set(wanted[org])
        out[org] = {r["external_id"]: r["listing"] for r in grouped[org] if r["external_id"] in ids}
    return out


def stored_scores(conn: sa.Connection, organization: str) -> dict[str, dict[str, Any]]:
    """External id -> the stored ``quality_scores`` row of ``organization`` (every column)."""
    return stored_scores_many(conn, [organization])[organization]


def stored_scores_many(conn: sa.Connection, organizations: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`stored_scores` of each of ``organizations``, one query per 500 organizations."""
    grouped = rows_by_organization(conn, sa.select(quality_scores), quality_scores.c.organization, organizations)
    return {org: {r["external_id"]: r for r in rows} for org, rows in grouped.items()}
