"""Stage 4, ``quality_scores``: a rubric score per ``ok`` profile.

Incremental (issue 13): each stored score records ``input_hash`` (:func:`score_input_hash`:
everything the rubric read for the profile) and ``rubric_version`` (:func:`rubric_version`).
A profile whose stored row has both equal to now is not scored again; its stored score,
flag and reasons stand (counted in ``reused``). A newly published version (the profile
stage, a rollback or ``enrichment review approve`` of a quarantined attempt) changes the
published profile and its version, so it is scored again. A reviewer's approval of a
published profile does not change its score (the review queue applies approvals when it
is read); a rejection unpublishes the profile, so its score is deleted.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from enrichment_assets import lexicon
from enrichment_assets.domain.hallucination import Violation
from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.domain.quality import repeated_sentences_by_profile, score_profile
from enrichment_assets.pipeline.hallucination import load_violations_many, published_input_hash
from enrichment_assets.pipeline.profiles import load_published_profiles_many
from enrichment_assets.pipeline.versions import files_digest
from enrichment_assets.storage.database import SyncResult, stable_hash, sync_rows, utcnow
from enrichment_assets.storage.incremental import listing_documents_many, stored_scores_many
from enrichment_assets.storage.schema import quality_scores

#: Bump when scores change for a reason :func:`rubric_version` does not see (a dependency
#: such as py3langid, which the source-language penalty calls): every profile is then
#: scored again on the next run.
RUBRIC_VERSION = "1"

_PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=8)
def _rubric_digest(lexicon_dir: Path) -> str:
    # the rubric (domain/quality.py) calls hallucination, grounding and normalize: every
    # domain module, this module (what it passes to the rubric) and the lexicon files
    return files_digest(sorted((_PACKAGE / "domain").glob("*.py")) + [Path(__file__).resolve()]
                        + sorted(lexicon_dir.glob("*.yaml")))


def rubric_version() -> str:
    """The version stored on each score, e.g. ``"1+3f2a9c..."`` (at most 100 characters):
    :data:`RUBRIC_VERSION` plus a digest of the rubric's code and of the lexicon files in use,
    so editing the rubric, a rule it calls or a word list scores every profile again."""
    return f"{RUBRIC_VERSION}+{_rubric_digest(lexicon.directory())}"[:100]


def score_input_hash(published_hash: str, found: Sequence[Violation], cliches: Sequence[str],
                     repeated: set[str]) -> str:
    """sha256 hex of what the rubric reads for one profile.

    Args:
        published_hash: the profile, its version and its listing
            (:func:`~enrichment_assets.pipeline.hallucination.published_input_hash`).
        found: the profile's stored rule violations, in the order the rubric gets them (its
            reasons follow that order).
        cliches: the organization's cliche list, in order.
        repeated: the organization's repeated sentences that occur in this profile's
            description (the only part of the repeated set the rubric's result depends on).
    """
    return stable_hash([published_hash, [[v.rule, v.field, v.severity, v.evidence] for v in found],
                        list(cliches), sorted(repeated)])


@dataclass
class QualityResult:
    """What one ``quality_scores`` materialization did for one organization."""

    organization: str
    scored: int = 0
    written: int = 0
    deleted: int = 0
    needs_review: int = 0
    scores: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    #: of ``scored``: profiles not scored again (inputs and rubric unchanged; stored score kept)
    reused: int = 0

    @property
    def median(self) -> float | None:
        if not self.scores:
            return None
        ordered = sorted(self.scores)
        mid = len(ordered) // 2
        return round(ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2, 1)

    @property
    def mean(self) -> float | None:
        return round(sum(self.scores) / len(self.scores), 1) if self.scores else None


def score_organization(engine: sa.Engine, organization: str, cliches: Sequence[str] = (), *,
                       force: bool = False) -> QualityResult:
    """Score every published profile of ``organization``; drop scores of profiles that are gone.

    The rubric gets the stored rule violations of each profile, the organization's
    cliche list (prompt file) and the sentences repeated across its profiles. A profile
    whose :func:`score_input_hash` and :func:`rubric_version` equal its stored row's keeps
    its stored score (``reused``) unless ``force`` (score everything again).
    """
    return score_organizations(engine, {organization: cliches}, force=force)[0]


def score_organizations(engine: sa.Engine, cliches: Mapping[str, Sequence[str]], *,
                        force: bool = False) -> list[QualityResult]:
    """:func:`score_organization` for each organization of ``cliches`` (organization -> its
    cliche list; a many-partition step's), one :class:`QualityResult` each in that order.
    What they have stored is read with one query per table (per 500 organizations) and
    their scores are written in one transaction, where one organization at a time took
    seven statements and four connections (~1 ms of step time per organization)."""
    organizations = list(cliches)
    version = rubric_version()
    published = load_published_profiles_many(engine, organizations)
    with engine.connect() as conn:
        documents = listing_documents_many(conn, published)
        stored = stored_scores_many(conn, organizations)
    found = load_violations_many(engine, organizations)
    results, rows, stale = [], [], []
    now = utcnow()
    for organization in organizations:
        result = QualityResult(organization=organization)
        result.scored, org_rows = _score(organization, published[organization], documents[organization],
                                         stored[organization], found[organization], cliches[organization],
                                         version, force, now, result)
        rows += org_rows
        stale += [{"k_org": organization, "k_id": i} for i in sorted(set(stored[organization]) - set(
            e for e in published[organization] if e in documents[organization]))]
        results.append(result)
    with engine.begin() as conn:
        sync = sync_rows(conn, quality_scores, rows)
        if stale:
            q = quality_scores.c
            conn.execute(sa.delete(quality_scores).where(q.organization == sa.bindparam("k_org"),
                                                         q.external_id == sa.bindparam("k_id")), stale)
    deleted = Counter(s["k_org"] for s in stale)
    for result in results:
        result.written = sync.by_organization.get(result.organization, SyncResult()).written
        result.deleted = deleted[result.organization]
    return results


def _score(organization: str, published: dict, documents: dict, stored: dict, found: dict,
           cliches: Sequence[str], version: str, force: bool, now, result: QualityResult
           ) -> tuple[int, list[dict[str, Any]]]:
    """Score one organization's published profiles into ``result``; return how many were
    scored and the rows to write (new or changed scores)."""
    profiles = {external_id: DogProfile.model_validate(published[external_id]["profile"])
                for external_id in sorted(published) if external_id in documents}
    repeated, contains = repeated_sentences_by_profile(profiles)
    rows: list[dict[str, Any]] = []
    for external_id, profile in profiles.items():
        violations = found.get(external_id, [])
        key = score_input_hash(published_input_hash(documents[external_id], published[external_id]),
                               violations, cliches, contains[external_id])
        previous = stored.get(external_id)
        if not force and previous and (previous["input_hash"], previous["rubric_version"]) == (key, version):
            result.reused += 1
            score, needs_review, reasons = previous["score"], previous["needs_review"], previous["reasons"]
        else:
            listing = NormalizedListing.model_validate(documents[external_id])
            scored = score_profile(listing, profile, violations=violations, cliches=cliches, repeated=repeated)
            score, needs_review, reasons = scored.score, scored.needs_review, scored.reasons
            rows.append({
                "organization": organization, "external_id": external_id,
                "profile_hash": stable_hash([profile.model_dump(mode="json"), listing.content_hash]),
                "score": score, "components": scored.components, "needs_review": needs_review,
                "reasons": reasons, "updated_at": now, "input_hash": key, "rubric_version": version,
            })
        result.scores.append(score)
        result.needs_review += int(bool(needs_review))
        for reason in reasons:
            kind = reason.split(":", 1)[0]
            result.reasons[kind] = result.reasons.get(kind, 0) + 1
    return len(profiles), rows
