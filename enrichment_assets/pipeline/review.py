"""The review queue (issue 12): profiles that need a human, and the decisions about them.

In the queue: every listing whose latest attempt is ``quarantined`` (it breaks an ERROR
hallucination rule; reasons: the rule violations of the attempt with evidence), and every
published profile whose quality score says ``needs_review`` (reasons: the rubric's), unless an
approval holds for it (:mod:`enrichment_assets.storage.review`).

Decisions (stored in ``review_decisions`` with reviewer, UTC time and note):

- ``approve`` a quarantined attempt: it is published as the next version, the same way the
  profile stage publishes a clean answer (:func:`enrichment_assets.pipeline.profiles.publication`);
  its status becomes ``ok``. Approving a published ``needs_review`` profile records the
  approval (it leaves the queue). The approval holds for that published version only: a
  re-profiled listing is checked again.
- ``reject``: the latest attempt becomes ``rejected``, so the next run sends the listing again
  (once); rejecting the published profile also unpublishes it (it leaves ``published_profiles``).
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.models import ProfileStatus
from enrichment_assets.pipeline.profiles import ATTEMPT_TARGET, PUBLISHED_COLUMNS, latest_version, publication
from enrichment_assets.storage.database import rows_by_organization, upsert, utcnow
from enrichment_assets.storage.review import approval_holds, insert_decision, load_decisions
from enrichment_assets.storage.schema import (
    llm_profiles, normalized_records, profile_versions, quality_scores, violations,
)

QUARANTINED, NEEDS_REVIEW = "quarantined", "needs_review"


class ReviewError(ValueError):
    """An unknown organization / listing, or a listing with nothing to decide."""


@dataclass
class ReviewItem:
    """One entry of the queue: ``kind`` is ``quarantined`` or ``needs_review``; ``reasons``
    one line each (rule violations with evidence, or the quality reasons)."""

    organization: str
    external_id: str
    name: str
    kind: str
    reasons: list[str] = field(default_factory=list)


def default_reviewer() -> str:
    """The OS user name (``unknown`` when it cannot be found)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user in the environment
        return "unknown"


def _violation_lines(conn: sa.Connection, organization: str, external_id: str, targets: list[str]) -> list[str]:
    v = violations
    rows = conn.execute(sa.select(v).where(v.c.organization == organization, v.c.external_id == external_id,
                                           v.c.target.in_(targets)).order_by(v.c.severity, v.c.rule)).mappings()
    return [f"{r['severity'].upper()} {r['rule']} ({r['field']}): {r['evidence']}" for r in rows]


def review_queue(engine: sa.Engine, organization: str | Sequence[str] | None = None) -> list[ReviewItem]:
    """The queue (all organizations, one, or a list of them: one query per 500), ordered by
    organization and external id."""
    p, n, q = llm_profiles, normalized_records, quality_scores
    query = (sa.select(p.c.organization, p.c.external_id, p.c.status, p.c.reason, n.c.listing, q.c.needs_review,
                       q.c.reasons, approval_holds().label("approved"))
             .join(n, sa.and_(n.c.organization == p.c.organization, n.c.external_id == p.c.external_id))
             .outerjoin(q, sa.and_(q.c.organization == p.c.organization, q.c.external_id == p.c.external_id))
             .order_by(p.c.organization, p.c.external_id))
    items: list[ReviewItem] = []
    with engine.connect() as conn:
        if organization is None:
            rows = conn.execute(query).mappings().all()
        else:
            grouped = rows_by_organization(conn, query, p.c.organization,
                                           [organization] if isinstance(organization, str) else sorted(set(organization)))
            rows = [r for org_rows in grouped.values() for r in org_rows]
        for r in rows:
            name = (r["listing"] or {}).get("name") or ""
            if r["status"] == ProfileStatus.QUARANTINED:
                reasons = _violation_lines(conn, r["organization"], r["external_id"], [ATTEMPT_TARGET])
                items.append(ReviewItem(r["organization"], r["external_id"], name, QUARANTINED,
                                        reasons or [r["reason"] or "quarantined"]))
            elif (r["status"] == ProfileStatus.OK and r["needs_review"] and not r["approved"]):
                items.append(ReviewItem(r["organization"], r["external_id"], name, NEEDS_REVIEW,
                                        list(r["reasons"] or [])))
    return items


def queue_size(engine: sa.Engine, organization: str) -> int:
    """How many listings of ``organization`` wait for a review (``quality_scores`` metadata)."""
    return len(review_queue(engine, organization))


def queue_sizes(engine: sa.Engine, organizations: Sequence[str]) -> dict[str, int]:
    """:func:`queue_size` of each of ``organizations``, read at once."""
    sizes = dict.fromkeys(organizations, 0)
    for item in review_queue(engine, list(organizations)):
        sizes[item.organization] += 1
    return sizes


def _row(conn: sa.Connection, organization: str, external_id: str) -> dict[str, Any]:
    p = llm_profiles
    row = conn.execute(sa.select(p).where(p.c.organization == organization,
                                          p.c.external_id == external_id)).mappings().first()
    if row is None:
        known = conn.execute(sa.select(sa.func.count()).select_from(p).where(
            p.c.organization == organization)).scalar_one()
        if not known:
            raise ReviewError(f"unknown organization {organization!r} (no profiles stored)")
        raise ReviewError(f"{organization}: unknown external_id {external_id!r} (no profile stored)")
    return dict(row)


def review_details(engine: sa.Engine, organization: str, external_id: str) -> dict[str, Any]:
    """What ``review show`` prints: ``listing`` (name, description), ``status``, ``reason``,
    ``profile`` (the latest attempt, a DogProfile dict), ``violations`` (lines with
    evidence, attempt and published), ``quality_reasons``, ``quality_score``, ``decisions``.

    Raises:
        ReviewError: unknown organization or external id.
    """
    n, q = normalized_records, quality_scores
    with engine.connect() as conn:
        row = _row(conn, organization, external_id)
        listing = conn.execute(sa.select(n.c.listing).where(
            n.c.organization == organization, n.c.external_id == external_id)).scalar() or {}
        score = conn.execute(sa.select(q.c.score, q.c.reasons).where(
            q.c.organization == organization, q.c.external_id == external_id)).mappings().first()
        return {"organization": organization, "external_id": external_id, "listing": listing,
                "status": row["status"], "reason": row["reason"], "profile": row["profile"],
                "published_version": row["published_version"],
                "violations": _violation_lines(conn, organization, external_id, [ATTEMPT_TARGET, "profile"]),
                "quality_score": score["score"] if score else None,
                "quality_reasons": list(score["reasons"]) if score else [],
                "decisions": load_decisions(conn, organization, external_id)}


def _decision(row: dict[str, Any], decision: str, reviewer: str | None, note: str | None,
              published_version: int | None, now) -> dict[str, Any]:
    return {"organization": row["organization"], "external_id": row["external_id"], "decision": decision,
            "reviewer": reviewer or default_reviewer(), "note": note, "attempt_status": row["status"],
            "content_hash": row["content_hash"], "prompt_version": row["prompt_version"],
            "published_version": published_version, "decided_at": now}


def approve(engine: sa.Engine, organization: str, external_id: str, reviewer: str | None = None,
            note: str | None = None) -> dict[str, Any]:
    """Approve the listing's latest attempt; returns the stored decision row.

    A quarantined attempt is published as the next version (status ``ok``); an ``ok``
    attempt must be the published one (its approval is recorded).

    Raises:
        ReviewError: unknown listing, or a latest attempt that is neither quarantined nor
            the published ``ok`` profile.
    """
    p = llm_profiles
    now = utcnow()
    with engine.begin() as conn:
        row = _row(conn, organization, external_id)
        if row["status"] == ProfileStatus.QUARANTINED and row["profile"]:
            version = latest_version(conn, organization, external_id) + 1
            columns, version_row = publication(organization, external_id, version, row["profile"],
                                               row["content_hash"], row["prompt_version"], row["model_answered"], now)
            by = reviewer or default_reviewer()
            conn.execute(sa.update(p).where(p.c.organization == organization, p.c.external_id == external_id)
                         .values(status=ProfileStatus.OK.value, reason=f"approved by {by}: {note or ''}".strip(),
                                 **columns))
            upsert(conn, profile_versions, [version_row])
        elif row["status"] == ProfileStatus.OK and row["published_version"]:
            version = row["published_version"]
            row = {**row, "content_hash": row["published_content_hash"]}
        else:
            raise ReviewError(f"{organization}/{external_id}: nothing to approve (latest attempt is {row['status']})")
        decision = _decision(row, "approved", reviewer, note, version, now)
        insert_decision(conn, decision)
    return decision


def reject(engine: sa.Engine, organization: str, external_id: str, reviewer: str | None = None,
           note: str | None = None) -> dict[str, Any]:
    """Reject the listing's latest attempt; returns the stored decision row.

    The status becomes ``rejected`` (the next run sends the listing again, once); when the
    rejected attempt is the published profile it is unpublished.

    Raises:
        ReviewError: unknown listing, or a latest attempt that is not quarantined or ok.
    """
    p = llm_profiles
    now = utcnow()
    with engine.begin() as conn:
        row = _row(conn, organization, external_id)
        if row["status"] not in (ProfileStatus.QUARANTINED, ProfileStatus.OK):
            raise ReviewError(f"{organization}/{external_id}: nothing to reject (latest attempt is {row['status']})")
        by = reviewer or default_reviewer()
        values: dict[str, Any] = {"status": ProfileStatus.REJECTED.value,
                                  "reason": f"rejected by {by}: {note or ''}".strip()}
        published_version = None
        if row["status"] == ProfileStatus.OK:
            published_version = row["published_version"]
            # SQL NULL (sa.null()): None would store a JSON 'null' in published_profile, which
            # "published_profile IS NOT NULL" (the stages, status, the view) reads as published
            values.update({c: sa.null() for c in PUBLISHED_COLUMNS})
        conn.execute(sa.update(p).where(p.c.organization == organization, p.c.external_id == external_id)
                     .values(**values))
        decision = _decision(row, "rejected", reviewer, note, published_version, now)
        insert_decision(conn, decision)
    return decision
