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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from enrichment_assets import lexicon
from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.domain.normalize import NormalizationError, normalize_record
from enrichment_assets.storage.database import SyncResult, rows_by_organization, stable_hash, sync_rows, utcnow
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
    return normalize_organizations(engine, [organization])[0]


def normalize_organizations(engine: sa.Engine, organizations: Sequence[str]) -> list[NormalizeResult]:
    """:func:`normalize_organization` for each of ``organizations`` (a many-partition step's),
    one :class:`NormalizeResult` each in their order (a name given twice counts once).

    The stored state of all of them is read with one query per table (per 500
    organizations) and their rows are written in one transaction, where one organization
    at a time took about ten statements and three transactions (~1.5 ms of step time per
    organization; a PetFinder rescuer has 2.7 listings). A database error fails the step,
    as it did one organization at a time, and leaves all of them as they were.
    """
    organizations = list(dict.fromkeys(organizations))
    version = normalizer_version()
    with engine.connect() as conn:
        r, n, j = raw_records.c, normalized_records.c, rejected_records.c
        raws = rows_by_organization(conn, sa.select(r.organization, r.external_id, r.payload_hash, r.scraped_at)
                                    .where(r.removed_at.is_(None)).order_by(r.external_id),
                                    r.organization, organizations)
        stored = rows_by_organization(conn, sa.select(n.organization, n.external_id, n.species, n.language,
                                                      n.raw_hash, n.normalizer_version),
                                      n.organization, organizations)
        refs = rows_by_organization(conn, sa.select(j.organization, j.record_ref).where(j.stage == STAGE),
                                    j.organization, organizations)
        plans = [_plan(org, raws[org], stored[org], version) for org in organizations]
        with_todo = [p.result.organization for p in plans if p.todo]
        payloads = rows_by_organization(conn, sa.select(r.organization, r.external_id, r.payload, r.scraped_at)
                                        .where(r.removed_at.is_(None)).order_by(r.external_id),
                                        r.organization, with_todo) if with_todo else {}
    writes = [_normalize_plan(plan, payloads.get(plan.result.organization, []), version,
                              {row["external_id"] for row in stored[plan.result.organization]},
                              {row["record_ref"] for row in refs[plan.result.organization]}) for plan in plans]
    with engine.begin() as conn:
        _write(conn, writes)
    previews = _previews(engine, plans)
    for plan in plans:
        plan.result.preview = previews[plan.result.organization]
    return [plan.result for plan in plans]


@dataclass
class _Plan:
    result: NormalizeResult
    #: external_id -> raw input hash of the listings to normalize (new or changed)
    todo: dict[str, str]
    reused_ids: list[str]
    fresh: dict[str, NormalizedListing] = field(default_factory=dict)
    keep_ids: list[str] = field(default_factory=list)


@dataclass
class _Write:
    organization: str
    rows: list[dict]
    rejected: list[dict]
    bookkeeping: list[dict]
    #: stored normalized rows and normalize-stage rejections that no longer apply
    stale_ids: list[str]
    stale_refs: list[str]
    result: NormalizeResult


def _plan(organization: str, raws: list[dict], stored: list[dict], version: str) -> _Plan:
    """Which active raw listings of ``organization`` to normalize and which stored rows to reuse."""
    result = NormalizeResult(organization=organization)
    stored_by_id = {row["external_id"]: row for row in stored}
    todo: dict[str, str] = {}
    reused_ids: list[str] = []
    species: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for raw in raws:
        result.listings += 1
        key = raw_input_hash(raw["payload_hash"], raw["scraped_at"])
        row = stored_by_id.get(raw["external_id"])
        if row is not None and row["raw_hash"] == key and row["normalizer_version"] == version:
            reused_ids.append(raw["external_id"])
            species[row["species"]] += 1
            languages[row["language"]] += 1
        else:
            todo[raw["external_id"]] = key
    result.species, result.languages = dict(species), dict(languages)
    return _Plan(result=result, todo=todo, reused_ids=reused_ids)


def _normalize_plan(plan: _Plan, payloads: list[dict], version: str, stored_ids: set[str],
                    rejected_refs: set[str]) -> _Write:
    """Normalize the listings of ``plan.todo`` (``payloads``: the organization's active raw
    rows, by external id) and say what to write."""
    result, organization, now = plan.result, plan.result.organization, utcnow()
    species, languages = Counter(result.species), Counter(result.languages)
    rows, rejected, bookkeeping = [], [], []
    for raw in payloads:
        external_id = raw["external_id"]
        if external_id not in plan.todo:
            continue
        try:
            listing = normalize_record(organization, raw["payload"], raw["scraped_at"])
        except NormalizationError as exc:
            result.rejection_reasons.append(str(exc))
            rejected.append({
                "organization": organization, "stage": STAGE, "record_ref": external_id,
                "external_id": external_id, "scrape_sha256": None, "line_no": None,
                "raw": str(raw["payload"])[:20000], "reason": str(exc), "rejected_at": now,
            })
            continue
        species[listing.species] += 1
        languages[listing.language] += 1
        plan.fresh[listing.external_id] = listing
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
                            "raw_hash": plan.todo[external_id], "normalizer_version": version})
    plan.keep_ids = [r["external_id"] for r in rows] + plan.reused_ids
    reject_ids = {r["record_ref"] for r in rejected}
    result.species, result.languages = dict(species), dict(languages)
    result.normalized = len(rows) + len(plan.reused_ids)
    result.reused = len(plan.reused_ids)
    result.rejected = len(rejected)
    return _Write(organization=organization, rows=rows, rejected=rejected, bookkeeping=bookkeeping,
                  stale_ids=sorted(stored_ids - set(plan.keep_ids)), stale_refs=sorted(rejected_refs - reject_ids),
                  result=result)


def _write(conn: sa.Connection, writes: list[_Write]) -> None:
    """The rows of ``writes`` in one transaction (``conn``), and each result's counts."""
    n, j = normalized_records.c, rejected_records.c
    sync = sync_rows(conn, normalized_records, [row for w in writes for row in w.rows])
    bookkeeping = [b for w in writes for b in w.bookkeeping]
    if bookkeeping:
        conn.execute(sa.update(normalized_records).where(
            n.organization == sa.bindparam("k_org"), n.external_id == sa.bindparam("k_id"),
        ).values(raw_hash=sa.bindparam("raw_hash"), normalizer_version=sa.bindparam("normalizer_version")),
            bookkeeping)
    sync_rows(conn, rejected_records, [row for w in writes for row in w.rejected])
    stale = [{"k_org": w.organization, "k_id": i} for w in writes for i in w.stale_ids]
    if stale:
        conn.execute(sa.delete(normalized_records).where(
            n.organization == sa.bindparam("k_org"), n.external_id == sa.bindparam("k_id")), stale)
    cleared = [{"k_org": w.organization, "k_ref": ref} for w in writes for ref in w.stale_refs]
    if cleared:
        conn.execute(sa.delete(rejected_records).where(
            j.organization == sa.bindparam("k_org"), j.stage == STAGE, j.record_ref == sa.bindparam("k_ref")),
            cleared)
    for w in writes:
        counts = sync.by_organization.get(w.organization, SyncResult())
        w.result.deleted = len(w.stale_ids)
        w.result.inserted, w.result.updated = counts.inserted, counts.updated
        w.result.unchanged = counts.unchanged + w.result.reused


def _previews(engine: sa.Engine, plans: list[_Plan]) -> dict[str, list[NormalizedListing]]:
    """organization -> its first ten kept listings by external id: the ones just normalized
    from the plan, the others read (one query per 500 organizations)."""
    wanted = {p.result.organization: sorted(p.keep_ids)[:10] for p in plans}
    missing = {org: [i for i in ids if i not in plan.fresh] for (org, ids), plan in zip(wanted.items(), plans)}
    need = [org for org, ids in missing.items() if ids]
    if need:
        n = normalized_records.c
        ids = sorted({i for org in need for i in missing[org]})
        with engine.connect() as conn:
            stored = rows_by_organization(conn, sa.select(n.organization, n.external_id, n.listing)
                                          .where(n.external_id.in_(ids)), n.organization, need)
        for plan in plans:
            org = plan.result.organization
            for row in stored.get(org, []):
                if row["external_id"] in missing[org]:
                    plan.fresh[row["external_id"]] = NormalizedListing.model_validate(row["listing"])
    return {org: [plan.fresh[i] for i in ids if i in plan.fresh] for (org, ids), plan in zip(wanted.items(), plans)}


def load_listings(engine: sa.Engine, organization: str) -> list[NormalizedListing]:
    """The stored normalized listings of ``organization``, ordered by external id."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(normalized_records.c.listing)
            .where(normalized_records.c.organization == organization)
            .order_by(normalized_records.c.external_id)
        ).scalars().all()
    return [NormalizedListing.model_validate(row) for row in rows]
