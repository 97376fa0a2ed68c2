"""Stage 4, ``quality_scores``: a rubric score per ``ok`` profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from enrichment_assets.domain.models import DogProfile
from enrichment_assets.domain.quality import repeated_sentences, score_profile
from enrichment_assets.pipeline.hallucination import load_violations
from enrichment_assets.pipeline.normalize import load_listings
from enrichment_assets.pipeline.profiles import load_published_profiles
from enrichment_assets.storage.database import stable_hash, sync_rows, utcnow
from enrichment_assets.storage.schema import quality_scores


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


def score_organization(engine: sa.Engine, organization: str, cliches: Sequence[str] = ()) -> QualityResult:
    """Score every published profile of ``organization``; drop scores of profiles that are gone.

    The rubric gets the stored rule violations of each profile, the organization's
    cliche list (prompt file) and the sentences repeated across its profiles.
    """
    result = QualityResult(organization=organization)
    listings = {l.external_id: l for l in load_listings(engine, organization)}
    found = load_violations(engine, organization)
    profiles = {
        external_id: DogProfile.model_validate(published["profile"])
        for external_id, published in sorted(load_published_profiles(engine, organization).items())
        if external_id in listings
    }
    repeated = repeated_sentences(list(profiles.values()))
    rows = []
    now = utcnow()
    for external_id, profile in profiles.items():
        listing = listings[external_id]
        score = score_profile(listing, profile, violations=found.get(external_id, []),
                              cliches=cliches, repeated=repeated)
        result.scores.append(score.score)
        result.needs_review += int(score.needs_review)
        for reason in score.reasons:
            key = reason.split(":", 1)[0]
            result.reasons[key] = result.reasons.get(key, 0) + 1
        rows.append({
            "organization": organization, "external_id": external_id,
            "profile_hash": stable_hash([profile.model_dump(mode="json"), listing.content_hash]),
            "score": score.score, "components": score.components,
            "needs_review": score.needs_review, "reasons": score.reasons, "updated_at": now,
        })
    keep = [r["external_id"] for r in rows]
    with engine.begin() as conn:
        result.written = sync_rows(conn, quality_scores, rows).written
        stale = sa.delete(quality_scores).where(quality_scores.c.organization == organization)
        if keep:
            stale = stale.where(quality_scores.c.external_id.not_in(keep))
        result.deleted = conn.execute(stale).rowcount or 0
    result.scored = len(rows)
    return result
