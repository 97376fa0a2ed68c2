"""The per-organization summary table printed by ``enrichment status`` and ``make run``."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from enrichment_assets.storage.schema import (
    llm_profiles, normalized_records, quality_scores, raw_records, rejected_records, scrape_files, translations,
    violations,
)

ATTENTION_COLUMNS = ["organization", "file", "status", "processed_at", "accepted", "rejected", "reason"]

SUMMARY_COLUMNS = ["organization", "listings", "rejected", "published", "profiled", "quarantined", "skipped",
                   "failed", "budget_exhausted", "violations", "mean_quality", "translations"]


def _counts(conn: sa.Connection, query: sa.Select) -> dict[str, int]:
    return {org: int(n) for org, n in conn.execute(query).all()}


def organization_summary(engine: sa.Engine) -> pd.DataFrame:
    """One row per organization with columns :data:`SUMMARY_COLUMNS`.

    ``listings``: active raw listings; ``rejected``: rejected lines and records (all
    stages); ``published``: listings with a published profile; the latest attempts:
    ``profiled`` (``ok``), ``quarantined`` (broke an ERROR rule, not published),
    ``skipped`` (``insufficient_source`` plus ``not_a_dog``), ``failed`` and
    ``budget_exhausted`` (left for the next run, not a failure); ``mean_quality``:
    mean rubric score (0..100, NaN when nothing is scored); ``translations``: ``ok`` rows;
    ``violations``: profiles with at least one stored ERROR hallucination-rule violation.
    Profile counts only cover listings that are currently normalized.
    """
    p, n = llm_profiles, normalized_records
    joined = p.join(n, sa.and_(p.c.organization == n.c.organization, p.c.external_id == n.c.external_id))

    def by_status(*statuses: str) -> sa.Select:
        return (sa.select(p.c.organization, sa.func.count()).select_from(joined)
                .where(p.c.status.in_(statuses)).group_by(p.c.organization))

    with engine.connect() as conn:
        listings = _counts(conn, sa.select(raw_records.c.organization, sa.func.count())
                           .where(raw_records.c.removed_at.is_(None)).group_by(raw_records.c.organization))
        rejected = _counts(conn, sa.select(rejected_records.c.organization, sa.func.count())
                           .group_by(rejected_records.c.organization))
        ok = _counts(conn, by_status("ok"))
        quarantined = _counts(conn, by_status("quarantined"))
        skipped = _counts(conn, by_status("insufficient_source", "not_a_dog"))
        failed = _counts(conn, by_status("failed"))
        exhausted = _counts(conn, by_status("budget_exhausted"))
        published = _counts(conn, sa.select(p.c.organization, sa.func.count()).select_from(joined)
                            .where(p.c.published_profile.is_not(None)).group_by(p.c.organization))
        quality = {org: float(v) for org, v in conn.execute(
            sa.select(quality_scores.c.organization, sa.func.avg(quality_scores.c.score))
            .group_by(quality_scores.c.organization)).all()}
        violating = _counts(conn, sa.select(violations.c.organization,
                                            sa.func.count(sa.distinct(violations.c.external_id)))
                            .where(violations.c.target == "profile", violations.c.severity == "error")
                            .group_by(violations.c.organization))
        translated = _counts(conn, sa.select(translations.c.organization, sa.func.count())
                             .where(translations.c.status == "ok").group_by(translations.c.organization))
    orgs = sorted(set(listings) | set(rejected))
    frame = pd.DataFrame({
        "organization": orgs,
        "listings": [listings.get(o, 0) for o in orgs],
        "rejected": [rejected.get(o, 0) for o in orgs],
        "published": [published.get(o, 0) for o in orgs],
        "profiled": [ok.get(o, 0) for o in orgs],
        "quarantined": [quarantined.get(o, 0) for o in orgs],
        "skipped": [skipped.get(o, 0) for o in orgs],
        "failed": [failed.get(o, 0) for o in orgs],
        "budget_exhausted": [exhausted.get(o, 0) for o in orgs],
        "violations": [violating.get(o, 0) for o in orgs],
        "mean_quality": [round(quality[o], 1) if o in quality else float("nan") for o in orgs],
        "translations": [translated.get(o, 0) for o in orgs],
    }, columns=SUMMARY_COLUMNS)
    return frame


def scrape_file_attention(engine: sa.Engine, limit: int = 50) -> pd.DataFrame:
    """Scrape files that need an operator, newest first: quarantined files (kept in the
    landing folder; they removed nothing) and held removals (see ``enrichment
    confirm-removals``). Columns :data:`ATTENTION_COLUMNS`; ``file`` is the file name."""
    c = scrape_files.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.organization, c.path, c.status, c.processed_at, c.accepted, c.rejected,
                                      c.reason)
                            .where(c.status.in_(("quarantined", "held")))
                            .order_by(c.processed_at.desc()).limit(limit)).mappings().all()
    return pd.DataFrame([{**dict(r), "file": r["path"].rsplit("/", 1)[-1]} for r in rows],
                        columns=ATTENTION_COLUMNS)
