"""Decisions of the quality-gate asset checks, from stored rows (no Dagster here).

Each gate returns a :class:`GateResult`: ``passed``, ``severity`` (``ERROR``/``WARN``),
a one-line ``description`` and the numbers for the check metadata.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.pipeline.hallucination import ViolationReport, build_report
from enrichment_assets.storage.database import rows_by_organization
from enrichment_assets.storage.review import approved_ids
from enrichment_assets.storage.schema import (
    llm_profiles, normalized_records, quality_scores, translations, violations,
)


@dataclass
class GateResult:
    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    offending: list[dict[str, Any]] = field(default_factory=list)


def _current_profiles(engine: sa.Engine, organization: str) -> list[dict[str, Any]]:
    p, n = llm_profiles, normalized_records
    query = (sa.select(p.c.external_id, p.c.status, p.c.cost_usd, p.c.reason, p.c.error_class)
             .join(n, sa.and_(p.c.organization == n.c.organization, p.c.external_id == n.c.external_id))
             .where(p.c.organization == organization))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def stored_violation_report(engine: sa.Engine, organization: str) -> ViolationReport:
    """The stored profile violations as a report over the profiles the model wrote: the
    published ones (target ``profile``) and the quarantined attempts (target ``attempt``),
    a listing counted once. A profile a reviewer approved (``enrichment review approve``;
    the approval holds for its published version) is checked but its findings are not
    counted."""
    p = llm_profiles
    with engine.connect() as conn:
        checked = conn.execute(sa.select(sa.func.count()).select_from(p).where(
            p.c.organization == organization,
            sa.or_(p.c.published_profile.is_not(None), p.c.status == "quarantined"))).scalar_one()
        approved = approved_ids(conn, organization)
        rows = [dict(r) for r in conn.execute(sa.select(violations).where(
            violations.c.organization == organization,
            violations.c.target.in_(["profile", "attempt"]))).mappings() if r["external_id"] not in approved]
    return build_report(organization, "profile", checked, rows)


def hallucination_gate(report: ViolationReport, max_error_rate: float, min_profiles: int = 1) -> GateResult:
    """The organization-level hallucination gate over the stored violations.

    Profiles breaking an ERROR rule are already quarantined one by one (no publication, no
    translation), so this gate decides only whether the fault is systemic: ERROR (the
    blocking check stops the organization's translations) when more than
    ``max_error_rate`` of the checked profiles *and* at least ``min_profiles`` of them
    break an ERROR rule; otherwise it fails as WARN when any profile has a finding (the
    quarantined ones are listed for review with their evidence) and passes when none has.
    """
    any_findings = bool(report.by_rule)
    systemic = report.error_rate > max_error_rate and report.with_errors >= min_profiles
    severity = "ERROR" if systemic else "WARN"
    return GateResult(
        passed=not any_findings, severity=severity,
        description=(f"{report.with_errors} of {report.checked} profiles violate an ERROR rule and are quarantined "
                     f"(rate {report.error_rate:.2%}; systemic above {max_error_rate:.0%} and at least "
                     f"{min_profiles} profiles{': translations blocked' if systemic else ''}); "
                     f"{report.with_warnings} only WARN rules"),
        metadata={"profiles_checked": report.checked, "profiles_with_errors": report.with_errors,
                  "profiles_with_warnings_only": report.with_warnings, "error_rate": report.error_rate,
                  "threshold": max_error_rate, "min_profiles": min_profiles, "systemic": systemic,
                  "violations_by_rule": report.by_rule},
        offending=report.offending,
    )


def success_rate_gate(engine: sa.Engine, organization: str, min_rate: float, floor: float = 0.5) -> GateResult:
    """Share of eligible listings (all minus ``insufficient_source`` and ``not_a_dog``)
    whose latest attempt is ``ok``: fails below ``min_rate``, as WARN down to ``floor``
    and as ERROR below it (issue 10: loud failure, default floor 50%). The metadata counts
    the failure classes (``error_class``) of the failed listings."""
    rows = _current_profiles(engine, organization)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    eligible = len(rows) - counts.get("insufficient_source", 0) - counts.get("not_a_dog", 0)
    rate = counts.get("ok", 0) / eligible if eligible else 1.0
    failed = [r for r in rows if r["status"] in ("failed", "budget_exhausted", "quarantined")]
    classes: dict[str, int] = {}
    for r in failed:
        key = r["error_class"] or r["status"]
        classes[key] = classes.get(key, 0) + 1
    return GateResult(
        passed=rate >= min_rate, severity="ERROR" if rate < floor else "WARN",
        description=(f"{counts.get('ok', 0)} of {eligible} eligible listings profiled ({rate:.1%}, "
                     f"minimum {min_rate:.0%}, ERROR below {floor:.0%})"),
        metadata={"eligible": eligible, "ok": counts.get("ok", 0), "success_rate": round(rate, 4),
                  "threshold": min_rate, "floor": floor, "statuses": counts, "failure_classes": classes},
        offending=[{"external_id": r["external_id"], "status": r["status"], "reason": (r["reason"] or "")[:200]}
                   for r in failed[:20]],
    )


def cost_gate(engine: sa.Engine, organization: str, max_cost_per_profile_usd: float) -> GateResult:
    """WARN when the mean stored cost of the ``ok`` profiles exceeds the ceiling (USD)."""
    costs = [r["cost_usd"] or 0.0 for r in _current_profiles(engine, organization) if r["status"] == "ok"]
    mean = sum(costs) / len(costs) if costs else 0.0
    return GateResult(
        passed=mean <= max_cost_per_profile_usd, severity="WARN",
        description=f"mean cost per profile ${mean:.5f} (ceiling ${max_cost_per_profile_usd:.5f})",
        metadata={"profiles": len(costs), "cost_total_usd": round(sum(costs), 6),
                  "cost_per_profile_usd": round(mean, 6), "threshold": max_cost_per_profile_usd},
    )


def quality_gate(engine: sa.Engine, organization: str, median_min: float, review_share_max: float) -> GateResult:
    """WARN when the median score is below ``median_min`` or the share of profiles that
    need review exceeds ``review_share_max``."""
    return quality_gates(engine, [organization], median_min, review_share_max)[organization]


def quality_gates(engine: sa.Engine, organizations: Sequence[str], median_min: float,
                  review_share_max: float) -> dict[str, GateResult]:
    """:func:`quality_gate` of each of ``organizations`` (organization -> result), the
    scores read with one query per 500 organizations."""
    c = quality_scores.c
    with engine.connect() as conn:
        grouped = rows_by_organization(conn, sa.select(c.organization, c.external_id, c.score, c.needs_review,
                                                       c.reasons), c.organization, organizations)
    return {org: _quality_decision(rows, median_min, review_share_max) for org, rows in grouped.items()}


def _quality_decision(rows: list[dict[str, Any]], median_min: float, review_share_max: float) -> GateResult:
    scores = [r["score"] for r in rows]
    median = statistics.median(scores) if scores else 100.0
    share = sum(r["needs_review"] for r in rows) / len(rows) if rows else 0.0
    worst = sorted(rows, key=lambda r: r["score"])[:20]
    return GateResult(
        passed=median >= median_min and share <= review_share_max, severity="WARN",
        description=(f"median score {median:.1f} (minimum {median_min}), {share:.1%} need review "
                     f"(maximum {review_share_max:.0%})"),
        metadata={"scored": len(rows), "median_score": round(median, 1), "median_threshold": median_min,
                  "needs_review_share": round(share, 4), "review_share_threshold": review_share_max},
        offending=[{"external_id": r["external_id"], "score": r["score"],
                    "reasons": "; ".join(r["reasons"])[:200]} for r in worst if r["needs_review"]],
    )


def translation_gate(engine: sa.Engine, organization: str) -> GateResult:
    """ERROR when any ``ok`` translation is in the wrong language or lost a name or number."""
    with engine.connect() as conn:
        checked = conn.execute(sa.select(sa.func.count()).select_from(translations).where(
            translations.c.organization == organization, translations.c.status == "ok")).scalar_one()
        rows = [dict(r) for r in conn.execute(sa.select(violations).where(
            violations.c.organization == organization,
            violations.c.target.not_in(["profile", "attempt"]))).mappings()]
    report = build_report(organization, "translations", checked, rows)
    return GateResult(
        passed=not rows, severity="ERROR",
        description=f"{report.with_errors + report.with_warnings} of {checked} translations break a translation rule",
        metadata={"translations_checked": checked, "translations_with_findings": len({(r['external_id'], r['target']) for r in rows}),
                  "violations_by_rule": report.by_rule},
        offending=report.offending,
    )
