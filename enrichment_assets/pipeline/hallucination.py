"""Running the hallucination rules over an organization and storing the violations.

The rules themselves live in :mod:`enrichment_assets.domain.hallucination`; this module
applies them to the published profiles (target ``profile``) and translations (target
= language), and keeps the ``violations`` table equal to the current findings, so
``enrichment status``, the quality rubric, the translation stage and the asset checks
all read one stored result.

Incremental (issue 13): ``rule_checks`` records, per listing and target, the hash of what
was checked (:func:`check_input_hash` for a profile, :func:`translation_input_hash` for a
translation) and :func:`rules_version`. An item with both unchanged keeps its stored
violations and is not checked again (counted in ``reused``).
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from enrichment_assets import lexicon

from enrichment_assets.domain.hallucination import Violation, check_profile, check_translation
from enrichment_assets.domain.models import DogProfile
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.pipeline.profiles import load_published_profiles
from enrichment_assets.domain.models import NormalizedListing
from enrichment_assets.pipeline.versions import files_digest
from enrichment_assets.storage.database import rows_by_organization, stable_hash, sync_rows, upsert, utcnow
from enrichment_assets.storage.incremental import listing_documents
from enrichment_assets.storage.schema import rule_checks, translations, violations

PROFILE_TARGET = "profile"

#: Bump when the rules' findings change for a reason :func:`rules_version` does not see
#: (a dependency's behaviour): every profile and translation is then checked again.
RULES_VERSION = "1"

_DOMAIN = Path(__file__).resolve().parent.parent / "domain"


@functools.lru_cache(maxsize=8)
def _rules_digest(lexicon_dir: Path) -> str:
    # every domain module: the rules call grounding, facts, compatibility, ... (a wider net
    # than needed re-checks on any domain edit, which is cheap and never stale)
    return files_digest(sorted(_DOMAIN.glob("*.py")) + sorted(lexicon_dir.glob("*.yaml")))


def rules_version() -> str:
    """:data:`RULES_VERSION` plus a digest of the domain modules and the lexicon files in use
    (at most 100 characters): editing a rule or a word list re-checks everything."""
    return f"{RULES_VERSION}+{_rules_digest(lexicon.directory())}"[:100]


def check_input_hash(listing: NormalizedListing, profile: dict[str, Any], *text: Any) -> str:
    """sha256 hex of what a rules pass reads: the normalized listing, the profile (JSON) and,
    for a translation, its language, tagline and description."""
    return stable_hash([listing.model_dump(mode="json"), profile, list(text)])


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
    #: of ``checked``: items not checked again (input and rules unchanged; stored findings kept)
    reused: int = 0

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


class _Checks:
    """The ``rule_checks`` rows and stored violations of one organization and target set."""

    def __init__(self, engine: sa.Engine, organization: str, targets: Iterable[str] | None,
                 force: bool = False) -> None:
        self.organization = organization
        self.force = force
        self.version = rules_version()
        c, v = rule_checks.c, violations.c
        checks = sa.select(c.external_id, c.target, c.input_hash, c.rules_version).where(
            c.organization == organization)
        found = sa.select(violations).where(v.organization == organization)
        if targets is None:  # every language target
            checks = checks.where(c.target != PROFILE_TARGET)
            found = found.where(v.target.not_in([PROFILE_TARGET, "attempt"]))
        else:
            checks = checks.where(c.target.in_(sorted(targets)))
            found = found.where(v.target.in_(sorted(targets)))
        with engine.connect() as conn:
            self.stored = {(r.external_id, r.target): (r.input_hash, r.rules_version) for r in conn.execute(checks)}
            self.violations: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            for row in conn.execute(found).mappings():
                self.violations[(row["external_id"], row["target"])].append(dict(row))
        self.rows: list[dict[str, Any]] = []
        self.check_rows: list[dict[str, Any]] = []
        self.reused = 0

    def run(self, external_id: str, target: str, input_hash: str, check) -> None:
        """Add the findings of one item: the stored ones when unchanged, else ``check()``."""
        if not self.force and self.stored.get((external_id, target)) == (input_hash, self.version):
            self.reused += 1
            self.rows.extend(self.violations.get((external_id, target), []))
        else:
            self.rows.extend(_rows(self.organization, external_id, target, check()))
        self.check_rows.append({"organization": self.organization, "external_id": external_id,
                                "target": target, "input_hash": input_hash, "rules_version": self.version,
                                "updated_at": utcnow()})

    def store(self, engine: sa.Engine, targets: set[str]) -> None:
        """Store the findings (:func:`_store`) and the checks; drop checks of items gone."""
        _store(engine, self.organization, targets, self.rows)
        keep = {(r["external_id"], r["target"]) for r in self.check_rows}
        c = rule_checks.c
        with engine.begin() as conn:
            sync_rows(conn, rule_checks, self.check_rows)
            for external_id, target in set(self.stored) - keep:
                conn.execute(sa.delete(rule_checks).where(
                    c.organization == self.organization, c.external_id == external_id, c.target == target))


def record_profile_check(conn: sa.Connection, organization: str, listing: NormalizedListing,
                         profile: dict[str, Any], found: Iterable[Violation]) -> None:
    """Store the findings of a check already run on a newly published ``profile`` (JSON) of
    ``listing`` as the profile rules' own (target ``profile``, the current
    :func:`rules_version` and input hash), so :func:`evaluate_profiles` reuses them instead
    of checking the profile a second time (the profile stage checks every answer before it
    publishes it). Replaces that listing's earlier findings; runs in the caller's transaction."""
    external_id = listing.external_id
    conn.execute(sa.delete(violations).where(violations.c.organization == organization,
                                             violations.c.external_id == external_id,
                                             violations.c.target == PROFILE_TARGET))
    rows = _rows(organization, external_id, PROFILE_TARGET, found)
    if rows:
        conn.execute(sa.insert(violations), rows)
    upsert(conn, rule_checks, [{"organization": organization, "external_id": external_id,
                                "target": PROFILE_TARGET, "input_hash": check_input_hash(listing, profile),
                                "rules_version": rules_version(), "updated_at": utcnow()}])


def evaluate_profiles(engine: sa.Engine, organization: str) -> ViolationReport:
    """Apply every profile rule to the organization's published profiles and store the findings.

    A profile whose listing, profile and rules are unchanged since its last check keeps its
    stored findings and is not checked again (``reused``).
    """
    listings = {l.external_id: l for l in load_listings(engine, organization)}
    checks = _Checks(engine, organization, {PROFILE_TARGET})
    checked = 0
    for external_id, published in sorted(load_published_profiles(engine, organization).items()):
        listing = listings.get(external_id)
        if listing is None:
            continue
        checked += 1
        checks.run(external_id, PROFILE_TARGET, check_input_hash(listing, published["profile"]),
                   lambda: check_profile(listing, DogProfile.model_validate(published["profile"])))
    checks.store(engine, {PROFILE_TARGET})
    report = build_report(organization, PROFILE_TARGET, checked, checks.rows)
    report.reused = checks.reused
    return report


def published_input_hash(listing: dict[str, Any], published: dict[str, Any]) -> str:
    """sha256 hex of a published profile as a later stage reads it: the stored normalized
    listing (JSON dict) and a :func:`~enrichment_assets.pipeline.profiles.load_published_profiles`
    value (its ``profile``, ``version`` and ``content_hash``). Part of the translation rules'
    and the rubric's input hashes (a newly published version changes it)."""
    return stable_hash([listing, published["profile"], published["version"], published["content_hash"]])


def translation_input_hash(published_hash: str, *text: Any) -> str:
    """sha256 hex of what the translation rules read for one translation: the source
    profile (:func:`published_input_hash`) and ``text`` (language, tagline, description)."""
    return stable_hash([published_hash, list(text)])


def evaluate_translations(engine: sa.Engine, organization: str, *, force: bool = False) -> ViolationReport:
    """Apply the translation rules (language, names, numbers) to ``ok`` translations.

    A translation whose :func:`translation_input_hash` (listing, source profile and its
    version, text) and :func:`rules_version` are unchanged since its last check keeps its stored
    findings and is neither language-detected nor checked again (``reused``), unless
    ``force``. Listings and profiles are parsed only for the translations checked.
    """
    profiles = load_published_profiles(engine, organization)
    t = translations.c
    with engine.connect() as conn:
        stored = conn.execute(sa.select(t.external_id, t.language, t.tagline, t.description).where(
            t.organization == organization, t.status == "ok")).mappings().all()
        documents = listing_documents(conn, organization, {row["external_id"] for row in stored})
    checks = _Checks(engine, organization, None, force=force)
    languages: set[str] = set()
    parsed: dict[str, tuple[NormalizedListing, DogProfile]] = {}

    def check(row) -> list[Violation]:
        external_id = row["external_id"]
        if external_id not in parsed:
            parsed[external_id] = (NormalizedListing.model_validate(documents[external_id]),
                                   DogProfile.model_validate(profiles[external_id]["profile"]))
        listing, profile = parsed[external_id]
        return check_translation(listing, profile, row["language"], row["tagline"], row["description"],
                                 row["language"])

    sources = {external_id: published_input_hash(documents[external_id], published)
               for external_id, published in profiles.items() if external_id in documents}
    for row in stored:
        if row["external_id"] not in sources:
            continue
        languages.add(row["language"])
        key = translation_input_hash(sources[row["external_id"]], row["language"], row["tagline"],
                                     row["description"])
        checks.run(row["external_id"], row["language"], key, lambda: check(row))
    with engine.connect() as conn:
        languages |= set(conn.execute(sa.select(violations.c.target).where(
            violations.c.organization == organization,
            violations.c.target.not_in([PROFILE_TARGET, "attempt"]))).scalars())
    checks.store(engine, languages)
    report = build_report(organization, "translations", len(stored), checks.rows)
    report.reused = checks.reused
    return report


def load_violations(engine: sa.Engine, organization: str, target: str = PROFILE_TARGET) -> dict[str, list[Violation]]:
    """Stored violations of ``target`` keyed by external id."""
    return load_violations_many(engine, [organization], target)[organization]


def load_violations_many(engine: sa.Engine, organizations: Sequence[str], target: str = PROFILE_TARGET
                         ) -> dict[str, dict[str, list[Violation]]]:
    """:func:`load_violations` of each of ``organizations`` (organization -> external id ->
    violations), one query per 500 organizations."""
    with engine.connect() as conn:
        grouped = rows_by_organization(conn, sa.select(violations).where(violations.c.target == target),
                                       violations.c.organization, organizations)
    out: dict[str, dict[str, list[Violation]]] = {}
    for org, rows in grouped.items():
        found: dict[str, list[Violation]] = defaultdict(list)
        for r in rows:
            found[r["external_id"]].append(Violation(field=r["field"], rule=r["rule"], evidence=r["evidence"],
                                                     severity=r["severity"]))
        out[org] = dict(found)
    return out


