"""The per-organization summary table printed by ``enrichment status`` and ``make run``."""

from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from enrichment_assets.storage.schema import (
    llm_calls, llm_profiles, normalized_records, quality_scores, raw_records, rejected_records, scrape_files, translations,
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


#: Statuses of listings that are never sent to a model (not counted as eligible).
SKIP_STATUSES = ("insufficient_source", "not_a_dog")


def operations_overview(engine: sa.Engine, now: datetime | None = None) -> dict[str, Any]:
    """The figures ``enrichment status`` prints under the table and ``--json`` returns.

    Per organization and in ``totals``:

    - ``eligible``: active normalized listings minus those stored ``insufficient_source`` or
      ``not_a_dog`` (a listing not attempted yet counts as eligible); ``published``: eligible
      listings with a published profile; ``coverage`` = published / eligible (None for none).
    - ``success_rate``: ``ok`` latest attempts / attempted eligible listings (the
      ``profiles_success_rate`` check's figure; None before any attempt).
    - ``cost_today_usd`` (UTC day) and ``cost_total_usd``: the ledger's (``llm_calls``) summed
      cost; ``cost_unknown_calls``: calls whose price was unknown (their cost is not in the sums,
      so a sum is a lower bound when this is not 0).
    - ``quality``: counts per band of :data:`~enrichment_assets.domain.quality.QUALITY_BANDS`;
      ``needs_review``: scored profiles flagged for review; ``quarantined``: latest attempts
      quarantined; ``review_rejected``: latest attempts a reviewer rejected (sent again on the
      next run; not counted in ``attempted``, so they do not lower the success rate).
    - ``rejected_lines``: rows of ``rejected_records`` (every stage);
      ``quarantined_files`` / ``held_files``: scrape files needing an operator.
    """
    from enrichment_assets.domain.quality import QUALITY_BANDS, quality_band

    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    day_start = datetime.combine(now.date(), time.min)
    p, n, c = llm_profiles, normalized_records, llm_calls.c
    joined = n.outerjoin(p, sa.and_(p.c.organization == n.c.organization, p.c.external_id == n.c.external_id))
    orgs: dict[str, dict[str, Any]] = {}

    def org(key: str) -> dict[str, Any]:
        return orgs.setdefault(key, {
            "organization": key, "listings": 0, "eligible": 0, "published": 0, "attempted": 0, "ok": 0,
            "quarantined": 0, "needs_review": 0, "review_rejected": 0, "quality": {name: 0 for name, _ in QUALITY_BANDS},
            "cost_today_usd": 0.0, "cost_total_usd": 0.0, "cost_unknown_calls": 0, "rejected_lines": 0,
            "quarantined_files": 0, "held_files": 0})

    with engine.connect() as conn:
        for key, status, published in conn.execute(
                sa.select(n.c.organization, p.c.status, p.c.published_profile.is_not(None)).select_from(joined)):
            o = org(key)
            o["listings"] += 1
            if status in SKIP_STATUSES:
                continue
            o["eligible"] += 1
            o["published"] += int(bool(published))
            if status == "rejected":
                o["review_rejected"] += 1
            elif status is not None:
                o["attempted"] += 1
                o["ok"] += int(status == "ok")
                o["quarantined"] += int(status == "quarantined")
        for key, score, review in conn.execute(sa.select(quality_scores.c.organization, quality_scores.c.score,
                                                         quality_scores.c.needs_review)):
            o = org(key)
            o["quality"][quality_band(float(score))] += 1
            o["needs_review"] += int(bool(review))
        today = sa.case((c.called_at >= day_start, c.cost_usd), else_=None)
        for key, total, day, unknown in conn.execute(
                sa.select(c.organization, sa.func.sum(c.cost_usd), sa.func.sum(today),
                          sa.func.sum(sa.case((c.cost_usd.is_(None), 1), else_=0))).group_by(c.organization)):
            o = org(key)
            o["cost_total_usd"], o["cost_today_usd"], o["cost_unknown_calls"] = (
                round(float(total or 0.0), 6), round(float(day or 0.0), 6), int(unknown or 0))
        for key, count in conn.execute(sa.select(rejected_records.c.organization, sa.func.count())
                                       .group_by(rejected_records.c.organization)):
            org(key)["rejected_lines"] = int(count)
        for key, status, count in conn.execute(sa.select(scrape_files.c.organization, scrape_files.c.status,
                                                         sa.func.count()).group_by(scrape_files.c.organization,
                                                                                   scrape_files.c.status)):
            if status in ("quarantined", "held"):
                org(key)[f"{status}_files"] = int(count)
    rows = [orgs[k] for k in sorted(orgs)]
    totals = {"organizations": len(rows), "quality": {name: 0 for name, _ in QUALITY_BANDS}}
    for key in ("listings", "eligible", "published", "attempted", "ok", "quarantined", "needs_review", "review_rejected",
                "cost_today_usd", "cost_total_usd", "cost_unknown_calls", "rejected_lines", "quarantined_files",
                "held_files"):
        totals[key] = sum(r[key] for r in rows)
    for r in rows:
        for name in totals["quality"]:
            totals["quality"][name] += r["quality"][name]
    for target in (*rows, totals):
        target["coverage"] = round(target["published"] / target["eligible"], 4) if target["eligible"] else None
        target["success_rate"] = round(target["ok"] / target["attempted"], 4) if target["attempted"] else None
        for key in ("cost_today_usd", "cost_total_usd"):
            target[key] = round(target[key], 6)
    return {"as_of": now.isoformat(timespec="seconds"), "quality_bands": {name: lowest for name, lowest in QUALITY_BANDS},
            "totals": totals, "organizations": rows}
