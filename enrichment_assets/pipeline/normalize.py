"""Stage 2, ``normalized_records``: harmonize every active raw listing of an organization."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.domain.normalize import NormalizationError, normalize_record
from enrichment_assets.storage.database import sync_rows, utcnow
from enrichment_assets.storage.schema import normalized_records, raw_records, rejected_records

STAGE = "normalize"


@dataclass
class NormalizeResult:
    """What one ``normalized_records`` materialization did for one organization."""

    organization: str
    listings: int = 0
    normalized: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    species: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    rejection_reasons: list[str] = field(default_factory=list)
    preview: list[NormalizedListing] = field(default_factory=list)


def normalize_organization(engine: sa.Engine, organization: str) -> NormalizeResult:
    """Normalize all active raw listings of ``organization``; store results and rejections.

    Listings that fail normalization are stored in ``rejected_records`` (stage
    ``normalize``) with the error naming record and field; their normalized row is removed
    so no stale version flows downstream. Rejections that no longer apply are cleared.
    """
    result = NormalizeResult(organization=organization)
    now = utcnow()
    with engine.connect() as conn:
        raws = conn.execute(
            sa.select(raw_records.c.external_id, raw_records.c.payload, raw_records.c.scraped_at)
            .where(raw_records.c.organization == organization, raw_records.c.removed_at.is_(None))
            .order_by(raw_records.c.external_id)
        ).all()
    rows, rejected = [], []
    species: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for external_id, payload, scraped_at in raws:
        result.listings += 1
        try:
            listing = normalize_record(organization, payload, scraped_at)
        except NormalizationError as exc:
            result.rejection_reasons.append(str(exc))
            rejected.append({
                "organization": organization, "stage": STAGE, "record_ref": external_id,
                "external_id": external_id, "scrape_sha256": None, "line_no": None,
                "raw": str(payload)[:20000], "reason": str(exc), "rejected_at": now,
            })
            continue
        species[listing.species] += 1
        languages[listing.language] += 1
        if len(result.preview) < 10:
            result.preview.append(listing)
        rows.append({
            "organization": organization,
            "external_id": listing.external_id,
            "species": listing.species,
            "language": listing.language,
            "content_hash": listing.content_hash,
            "listing": listing.model_dump(mode="json"),
            "updated_at": now,
        })
    keep_ids = [r["external_id"] for r in rows]
    reject_ids = [r["record_ref"] for r in rejected]
    with engine.begin() as conn:
        sync = sync_rows(conn, normalized_records, rows)
        sync_rows(conn, rejected_records, rejected)
        stale = sa.delete(normalized_records).where(normalized_records.c.organization == organization)
        if keep_ids:
            stale = stale.where(normalized_records.c.external_id.not_in(keep_ids))
        result.deleted = conn.execute(stale).rowcount or 0
        cleared = sa.delete(rejected_records).where(
            rejected_records.c.organization == organization, rejected_records.c.stage == STAGE)
        if reject_ids:
            cleared = cleared.where(rejected_records.c.record_ref.not_in(reject_ids))
        conn.execute(cleared)
    result.normalized = len(rows)
    result.rejected = len(rejected)
    result.inserted, result.updated, result.unchanged = sync.inserted, sync.updated, sync.unchanged
    result.species = dict(species)
    result.languages = dict(languages)
    return result


def load_listings(engine: sa.Engine, organization: str) -> list[NormalizedListing]:
    """The stored normalized listings of ``organization``, ordered by external id."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(normalized_records.c.listing)
            .where(normalized_records.c.organization == organization)
            .order_by(normalized_records.c.external_id)
        ).scalars().all()
    return [NormalizedListing.model_validate(row) for row in rows]
