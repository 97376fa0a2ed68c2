"""Stage 2, ``normalized_records``: harmonize every active raw listing of an organization.

Incremental (issue 13): each normalized row records what it was made from, ``raw_hash``
(:func:`raw_input_hash`: the raw record's ``payload_hash`` and its ``scraped_at``, the two
inputs of :func:`~enrichment_assets.domain.normalize.normalize_record`) and
``normalizer_version`` (:func:`normalizer_version`). A listing whose stored row has both
equal to now is not normalized again (no language detection, no parsing); it is counted
``unchanged``.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from enrichment_assets import lexicon
from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.domain.normalize import NormalizationError, normalize_record
from enrichment_assets.storage.database import stable_hash, sync_rows, utcnow
from enrichment_assets.storage.schema import normalized_records, raw_records, rejected_records

STAGE = "normalize"

#: Bump when the normalizer's output changes for a reason :func:`normalizer_version` does not
#: see (a dependency such as ftfy or py3langid, or code outside the hashed modules): every
#: listing is then normalized again on its next run.
NORMALIZER_VERSION = "1"

_DOMAIN = Path(__file__).resolve().parent.parent / "domain"
#: The modules whose source is part of the version: the normalizer and what it calls.
_VERSIONED_SOURCES = ("normalize.py", "facts.py", "contract.py", "models.py")


@functools.lru_cache(maxsize=8)
def _inputs_digest(lexicon_dir: Path) -> str:
    digest = hashlib.sha256()
    files = [_DOMAIN / name for name in _VERSIONED_SOURCES] + sorted(lexicon_dir.glob("*.yaml"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def normalizer_version() -> str:
    """The version stored on each normalized row, e.g. ``"1+3f2a9c..."`` (at most 100 chars).

    :data:`NORMALIZER_VERSION` plus a digest of the normalizer's source modules and of the
    lexicon files in use (:func:`enrichment_assets.lexicon.directory`): editing the code or a
    word list re-normalizes every listing. Reads the files once per lexicon folder.
    """
    return f"{NORMALIZER_VERSION}+{_inputs_digest(lexicon.directory())}"[:100]


def raw_input_hash(payload_hash: str, scraped_at: datetime | None) -> str:
    """sha256 hex of what a listing is normalized from: the raw ``payload_hash`` and
    ``scraped_at`` (ages are computed relative to it)."""
    return stable_hash([payload_hash, scraped_at.isoformat() if scraped_at else None])


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
    #: listings not normalized again (raw record and normalizer unchanged); in ``unchanged`` too
    reused: int = 0
    species: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    rejection_reasons: list[str] = field(default_factory=list)
    preview: list[NormalizedListing] = field(default_factory=list)


def normalize_organization(engine: sa.Engine, organization: str) -> NormalizeResult:
    """Normalize the active raw listings of ``organization``; store results and rejections.

    Listings that fail normalization are stored in ``rejected_records`` (stage
    ``normalize``) with the error naming record and field; their normalized row is removed
    so no stale version flows downstream. Rejections that no longer apply are cleared.
    A listing whose stored row was made from the same raw record by the same normalizer
    (see the module docstring) is kept as it is, not normalized again (``reused``, counted
    ``unchanged``). ``inserted``/``updated``/``unchanged`` count the listing content; the
    bookkeeping columns are written without counting a row as updated.
    """
    result = NormalizeResult(organization=organization)
    now = utcnow()
    version = normalizer_version()
    with engine.connect() as conn:
        raws = conn.execute(
            sa.select(raw_records.c.external_id, raw_records.c.payload_hash, raw_records.c.scraped_at)
            .where(raw_records.c.organization == organization, raw_records.c.removed_at.is_(None))
            .order_by(raw_records.c.external_id)
        ).all()
        stored = {r.external_id: r for r in conn.execute(
            sa.select(normalized_records.c.external_id, normalized_records.c.species,
                      normalized_records.c.language, normalized_records.c.raw_hash,
                      normalized_records.c.normalizer_version)
            .where(normalized_records.c.organization == organization))}
    todo: dict[str, str] = {}
    reused_ids: list[str] = []
    species: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for external_id, payload_hash, scraped_at in raws:
        result.listings += 1
        key = raw_input_hash(payload_hash, scraped_at)
        row = stored.get(external_id)
        if row is not None and row.raw_hash == key and row.normalizer_version == version:
            reused_ids.append(external_id)
            species[row.species] += 1
            languages[row.language] += 1
        else:
            todo[external_id] = key
    payloads = _payloads(engine, organization, list(todo))
    rows, rejected, bookkeeping = [], [], []
    fresh: dict[str, NormalizedListing] = {}
    for external_id, payload, scraped_at in payloads:
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
        fresh[listing.external_id] = listing
        rows.append({
            "organization": organization,
            "external_id": listing.external_id,
            "species": listing.species,
            "language": listing.language,
            "content_hash": listing.content_hash,
            "listing": listing.model_dump(mode="json"),
            "updated_at": now,
        })
        bookkeeping.append({"k_org": organization, "k_id": listing.external_id,
                            "raw_hash": todo[external_id], "normalizer_version": version})
    keep_ids = [r["external_id"] for r in rows] + reused_ids
    reject_ids = [r["record_ref"] for r in rejected]
    with engine.begin() as conn:
        sync = sync_rows(conn, normalized_records, rows)
        if bookkeeping:
            conn.execute(sa.update(normalized_records).where(
                normalized_records.c.organization == sa.bindparam("k_org"),
                normalized_records.c.external_id == sa.bindparam("k_id"),
            ).values(raw_hash=sa.bindparam("raw_hash"), normalizer_version=sa.bindparam("normalizer_version")),
                bookkeeping)
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
    result.normalized = len(rows) + len(reused_ids)
    result.reused = len(reused_ids)
    result.rejected = len(rejected)
    result.inserted, result.updated = sync.inserted, sync.updated
    result.unchanged = sync.unchanged + len(reused_ids)
    result.species = dict(species)
    result.languages = dict(languages)
    result.preview = _preview(engine, organization, sorted(keep_ids)[:10], fresh)
    return result


def _payloads(engine: sa.Engine, organization: str, ids: list[str]) -> list[tuple]:
    """(external_id, payload, scraped_at) of the raw records ``ids``, by external id."""
    out: list[tuple] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            out.extend(conn.execute(
                sa.select(raw_records.c.external_id, raw_records.c.payload, raw_records.c.scraped_at)
                .where(raw_records.c.organization == organization,
                       raw_records.c.external_id.in_(ids[start:start + 500]))).all())
    return sorted(out, key=lambda r: r[0])


def _preview(engine: sa.Engine, organization: str, ids: list[str],
             fresh: dict[str, NormalizedListing]) -> list[NormalizedListing]:
    """The listings ``ids`` (in order): just normalized ones from ``fresh``, others stored."""
    missing = [i for i in ids if i not in fresh]
    if missing:
        with engine.connect() as conn:
            for external_id, listing in conn.execute(
                    sa.select(normalized_records.c.external_id, normalized_records.c.listing).where(
                        normalized_records.c.organization == organization,
                        normalized_records.c.external_id.in_(missing))):
                fresh[external_id] = NormalizedListing.model_validate(listing)
    return [fresh[i] for i in ids if i in fresh]


def load_listings(engine: sa.Engine, organization: str) -> list[NormalizedListing]:
    """The stored normalized listings of ``organization``, ordered by external id."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(normalized_records.c.listing)
            .where(normalized_records.c.organization == organization)
            .order_by(normalized_records.c.external_id)
        ).scalars().all()
    return [NormalizedListing.model_validate(row) for row in rows]
