"""Running the hallucination rules over an organization and storing the violations.

The rules themselves live in :mod:`enrichment_assets.domain.hallucination`; this module
applies them to the published profiles (target ``profile``) and translations (target
= language), and keeps the ``violations`` table equal to the current findings, so
``enrichment status``, the quality rubric, the translation stage and the asset checks
all read one stored result.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from enrichment_assets.domain.hallucination import Violation, check_profile, check_translation
from enrichment_assets.domain.models import DogProfile
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.pipeline.profiles import load_published_profiles
from enrichment_assets.storage.database import sync_rows, utcnow
from enrichment_assets.storage.schema import translations, violations

PROFILE_TARGET = "profile"


@dataclass
class ViolationReport:
    """Findings of one rules pass: ``checked`` items, how many had ERROR/WARN findings."""

    organization: str
    target: str
    checked: int = 0
    with_errors: int = 0
    with_warnings: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    offending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return round(self.with_errors / self.checked, 4) if self.checked else 0.0


def _rows(organization: str, external_id: str, target: str, found: Iterable[Violation]) -> list[dict[str, Any]]:
    """One row per (rule, field); several findings of the same pair are joined."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    now = utcnow()
    for v in found:
        key = (v.rule, v.field)
        if key in merged:
            merged[key]["evidence"] = f"{merged[key]['evidence']}; {v.evidence}"[:4000]
            if v.severity == "error":
                merged[key]["severity"] = "error"
        else:
            merged[key] = {"organization": organization, "external_id": external_id, "target": target,
                           "rule": v.rule, "field": v.field, "severity": v.severity,
                           "evidence": v.evidence[:4000], "detected_at": now}
    return list(merged.values())


#: Public name of :func:`_rows` (the profile stage stores a quarantined attempt's findings with it).
violation_rows = _rows


def _store(engine: sa.Engine, organization: str, targets: set[str], rows: list[dict[str, Any]]) -> None:
    keys = {(r["external_id"], r["target"], r["rule"], r["field"]) for r in rows}
    with engine.begin() as conn:
        sync_rows(conn, violations, rows)
        stored = conn.execute(sa.select(violations.c.external_id, violations.c.target, violations.c.rule,
                                        violations.c.field).where(violations.c.organization == organization,
                                                                  violations.c.target.in_(sorted(targets)))).all()
        for stale in set(map(tuple, stored)) - keys:
            conn.execute(sa.delete(violations).where(
                violations.c.organization == organization, violations.c.external_id == stale[0],
                violations.c.target == stale[1], violations.c.rule == stale[2], violations.c.field == stale[3]))


def build_report(organization: str, target: str, checked: int, rows: list[dict[str, Any]]) -> ViolationReport:
    """Summarise violation rows (as stored) over ``checked`` items."""
    report = ViolationReport(organization=organization, target=target, checked=checked)
    severities: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        severities[row["external_id"]].add(row["severity"])
    report.with_errors = sum("error" in s for s in severities.values())
    report.with_warnings = sum(s == {"warn"} for s in severities.values())
    report.by_rule = dict(Counter(r["rule"] for r in rows))
    report.offending = [{"external_id": r["external_id"], "target": r["target"], "field": r["field"],
                         "rule": r["rule"], "severity": r["severity"], "evidence": r["evidence"]}
                        for r in sorted(rows, key=lambda r: (r["severity"] != "error", r["external_id"]))[:20]]
    return report


def evaluate_profiles(engine: sa.Engine, organization: str) -> ViolationReport:
    """Apply every profile rule to the organization's published profiles and store the findings."""
    listings = {l.external_id: l for l in load_listings(engine, organization)}
    rows: list[dict[str, Any]] = []
    checked = 0
    for external_id, published in sorted(load_published_profiles(engine, organization).items()):
        listing = listings.get(external_id)
        if listing is None:
            continue
        checked += 1
        rows.extend(_rows(organization, external_id, PROFILE_TARGET,
                          check_profile(listing, DogProfile.model_validate(published["profile"]))))
    _store(engine, organization, {PROFILE_TARGET}, rows)
    return build_report(organization, PROFILE_TARGET, checked, rows)


def evaluate_translations(engine: sa.Engine, organization: str) -> ViolationReport:
    """Apply the translation rules (language, names, numbers) to ``ok`` translations."""
    listings = {l.external_id: l for l in load_listings(engine, organization)}
    profiles = load_published_profiles(engine, organization)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(translations).where(
            translations.c.organization == organization, translations.c.status == "ok")).mappings().all()
    rows: list[dict[str, Any]] = []
    languages: set[str] = set()
    for row in stored:
        listing, profile_row = listings.get(row["external_id"]), profiles.get(row["external_id"])
        if listing is None or profile_row is None:
            continue
        languages.add(row["language"])
        found = check_translation(listing, DogProfile.model_validate(profile_row["profile"]), row["language"],
                                  row["tagline"], row["description"], row["language"])
        rows.extend(_rows(organization, row["external_id"], row["language"], found))
    with engine.connect() as conn:
        languages |= set(conn.execute(sa.select(violations.c.target).where(
            violations.c.organization == organization,
            violations.c.target.not_in([PROFILE_TARGET, "attempt"]))).scalars())
    _store(engine, organization, languages, rows)
    return build_report(organization, "translations", len(stored), rows)


def load_violations(engine: sa.Engine, organization: str, target: str = PROFILE_TARGET) -> dict[str, list[Violation]]:
    """Stored violations of ``target`` keyed by external id."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(violations).where(
            violations.c.organization == organization, violations.c.target == target)).mappings().all()
    found: dict[str, list[Violation]] = defaultdict(list)
    for r in rows:
        found[r["external_id"]].append(Violation(field=r["field"], rule=r["rule"], evidence=r["evidence"],
                                                 severity=r["severity"]))
    return dict(found)
