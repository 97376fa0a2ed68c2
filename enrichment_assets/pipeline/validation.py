"""Schema validity of stored rows: every row of a stage validates against its model.

Used by the schema asset checks; pure SQLAlchemy + pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from enrichment_assets.domain.contract import ScrapeRecord
from enrichment_assets.domain.models import (
    DogProfile, NormalizedListing, ProfileStatus, QualityScore, TranslatedProfileText,
)
from enrichment_assets.storage.database import rows_by_organization
from enrichment_assets.storage.schema import (
    llm_profiles, normalized_records, quality_scores, raw_records, rejected_records, translations,
)


class ProfileRow(BaseModel):
    """A stored ``llm_profiles`` row. The latest attempt: ``ok`` and ``quarantined`` carry a
    valid profile (``quarantined`` also its reason), every other status a reason and no
    profile (no placeholder text, ever). The published profile, when present, is a valid
    profile with a version. ``cost_usd`` is ``None`` when the price is unknown.
    """

    model_config = ConfigDict(extra="ignore")

    status: ProfileStatus
    profile: DogProfile | None
    reason: str | None
    prompt_version: str
    model_requested: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    published_profile: DogProfile | None = None
    published_version: int | None = None

    @model_validator(mode="after")
    def _status_consistent(self) -> ProfileRow:
        with_profile = (ProfileStatus.OK, ProfileStatus.QUARANTINED)
        if self.status in with_profile and self.profile is None:
            raise ValueError(f"status {self.status.value} without a profile")
        if self.status not in with_profile and self.profile is not None:
            raise ValueError(f"status {self.status.value} with a profile")
        if self.status is not ProfileStatus.OK and not self.reason:
            raise ValueError(f"status {self.status.value} without a reason")
        if (self.published_profile is None) != (self.published_version is None):
            raise ValueError("published profile and published version must be set together")
        if min(self.input_tokens, self.output_tokens) < 0 or (self.cost_usd or 0.0) < 0:
            raise ValueError("negative tokens or cost")
        return self


class TranslationRow(BaseModel):
    """A stored ``translations`` row: ``ok`` rows hold valid text in their language."""

    model_config = ConfigDict(extra="ignore")

    language: str
    status: Literal["ok", "failed", "budget_exhausted", "blocked_by_check"]
    tagline: str | None
    description: str | None
    reason: str | None

    @model_validator(mode="after")
    def _status_consistent(self) -> TranslationRow:
        if self.status == "ok":
            TranslatedProfileText(language=self.language, tagline=self.tagline or "",
                                  description=self.description or "")
        elif not self.reason:
            raise ValueError(f"status {self.status} without a reason")
        return self


@dataclass
class ValidationReport:
    """``checked`` rows, of which ``invalid`` as (record id, first error) pairs."""

    checked: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<row>"
        return f"{loc}: {err['msg']}"
    return str(exc)


def _validate(rows: list[tuple[str, Any]], validator) -> ValidationReport:
    report = ValidationReport()
    for record_id, value in rows:
        report.checked += 1
        try:
            validator(value)
        except (ValidationError, ValueError, TypeError) as exc:
            report.invalid.append((record_id, _first_error(exc)))
    return report


def _check_normalized(row: dict[str, Any]) -> None:
    listing = NormalizedListing.model_validate(row["listing"])
    if listing.content_hash != row["content_hash"] or listing.external_id != row["external_id"]:
        raise ValueError("content_hash or external_id column disagrees with the stored listing")


def _check_rejected(row: dict[str, Any]) -> None:
    if not (row["reason"] or "").strip():
        raise ValueError("rejected record without a reason")


def validate_asset_rows(engine: sa.Engine, asset: str, organization: str) -> ValidationReport:
    """Validate every stored row of ``asset`` (an asset name) for ``organization``.

    Raises:
        KeyError: for an unknown asset name.
    """
    return validate_asset_rows_many(engine, asset, [organization])[organization]


def validate_asset_rows_many(engine: sa.Engine, asset: str, organizations: Sequence[str]
                             ) -> dict[str, ValidationReport]:
    """:func:`validate_asset_rows` for each of ``organizations`` (organization -> report),
    reading the rows of all of them with one query per 500 organizations.

    Raises:
        KeyError: for an unknown asset name.
    """
    tables = {
        "raw_records": raw_records, "normalized_records": normalized_records,
        "llm_profiles": llm_profiles, "quality_scores": quality_scores, "translations": translations,
    }
    table = tables[asset]
    with engine.connect() as conn:
        rows = rows_by_organization(conn, sa.select(table), table.c.organization, organizations)
        rejected = rows_by_organization(conn, sa.select(rejected_records), rejected_records.c.organization,
                                        organizations) if asset == "raw_records" else {}
    return {org: _validate_rows(asset, org_rows, rejected.get(org, [])) for org, org_rows in rows.items()}


def _validate_rows(asset: str, rows: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> ValidationReport:
    def rid(row: dict[str, Any]) -> str:
        return row["external_id"] + (f"/{row['language']}" if "language" in row else "")

    if asset == "raw_records":
        report = _validate([(rid(r), r["payload"]) for r in rows], ScrapeRecord.model_validate)
        extra = _validate([(r["record_ref"], r) for r in rejected], _check_rejected)
        report.checked += extra.checked
        report.invalid += extra.invalid
        return report
    if asset == "normalized_records":
        return _validate([(rid(r), r) for r in rows], _check_normalized)
    if asset == "llm_profiles":
        return _validate([(rid(r), r) for r in rows], ProfileRow.model_validate)
    if asset == "quality_scores":
        return _validate([(rid(r), r) for r in rows], lambda r: QualityScore.model_validate(
            {k: r[k] for k in ("score", "components", "needs_review", "reasons")}))
    return _validate([(rid(r), r) for r in rows], TranslationRow.model_validate)
