"""Pydantic contracts between the stages: normalized listing, profile, score, translation.

One model per boundary. Every stored row of a stage validates against its model (the
schema asset checks do exactly that), so these models are the schema of the database too.
Missing stays missing: enums carry ``unknown`` and optional fields are ``None``; no field
is ever filled with a guess.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TriState = Literal["yes", "no", "unknown"]
Species = Literal["dog", "cat", "other", "unknown"]
Sex = Literal["male", "female", "group", "unknown"]
Size = Literal["small", "medium", "large", "xlarge", "unknown"]


StatedField = Literal[
    "sex", "neutered", "vaccinated", "chipped", "good_with_cats", "good_with_dogs",
    "good_with_children", "good_with_animals", "birth_date", "birth_year", "age_months", "height_cm",
    "weight_kg", "mediterranean_test", "leishmaniasis_test", "heartworm_test", "handicap",
    "location",
]
"""Fields a listing's text can state (see :mod:`enrichment_assets.domain.facts`)."""


class StatedFact(BaseModel):
    """One fact the listing's description states, with its exact source span.

    ``value`` by field: ``sex`` male/female; ``neutered``, ``vaccinated``, ``chipped``
    yes/no/unknown; ``good_with_*`` (and ``good_with_animals``, a generic "other animals"
    entry) yes/no/maybe/unknown; ``birth_date`` an ISO date; ``birth_year`` a year alone
    ("Geboren: ca. 2019": no date is guessed from it); ``age_months``,
    ``height_cm`` (shoulder height), ``weight_kg`` a number as text; the three health tests
    negative/positive/unknown; ``handicap`` yes/no/unknown; ``location`` the text.
    ``condition`` keeps the words of a conditional answer ("wenn älter") or a handicap's
    detail. ``text`` is exactly ``description[start:end]`` of the normalized listing
    (label and value for a block entry). ``source`` is ``block`` for a label/value entry,
    ``prose`` for a sentence pattern ("wiegt derzeit 26 kg"), which is weaker evidence.
    """

    model_config = ConfigDict(extra="forbid")

    field: StatedField
    value: str = Field(min_length=1, max_length=200)
    condition: str | None = Field(default=None, max_length=300)
    text: str = Field(min_length=1, max_length=400)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    source: Literal["block", "prose"] = "block"


class NormalizedListing(BaseModel):
    """A listing after source harmonization (output of ``normalized_records``).

    Units: ``age_months`` in whole months (``None`` when the source gives no age),
    ``weight_kg`` in kilograms, ``height_cm`` shoulder height in centimetres, ``fee`` in
    ``currency`` (ISO 4217). ``language`` is an ISO 639-1 code from the detector, or
    ``"und"`` when the text is too short to tell. ``content_hash`` is the sha256 (hex) of
    every field that reaches a prompt, so it changes exactly when a re-profile is due.
    ``facts`` holds extra source facts worth showing a model (colour, quantity, ...),
    string-valued, never containing ``None``. ``display_name`` is the dog's name when the
    scraped ``name`` is a title ("Süße Lina sucht ein Zuhause" -> "Lina"), else ``None``.
    ``stated_facts`` are the facts the description states (fact blocks and a few sentence
    patterns), each with its exact span in ``description``. ``scraped_on`` is the day of
    the scrape the ages are measured against (not part of ``content_hash``: a new scrape
    of the same text is no reason to profile again).
    """

    model_config = ConfigDict(extra="forbid")

    organization: str
    external_id: str
    name: str
    species: Species
    breed: str | None = None
    mixed_breed: bool | None = None
    age_months: int | None = Field(default=None, ge=0, le=400)
    sex: Sex = "unknown"
    size: Size = "unknown"
    weight_kg: float | None = Field(default=None, gt=0)
    height_cm: float | None = Field(default=None, gt=0)
    neutered: TriState = "unknown"
    vaccinated: TriState = "unknown"
    fee: float | None = Field(default=None, ge=0)
    currency: str | None = None
    location: str | None = None
    url: str | None = None
    description: str
    language: str
    facts: dict[str, str] = Field(default_factory=dict)
    display_name: str | None = None
    stated_facts: list[StatedFact] = Field(default_factory=list)
    scraped_on: date | None = None
    content_hash: str = Field(min_length=64, max_length=64)

    @property
    def dog_name(self) -> str:
        """The name to call the dog by: ``display_name`` when the name is a title."""
        return self.display_name or self.name


class ProfileStatus(StrEnum):
    """Exactly one per listing in ``llm_profiles`` (its latest attempt). No placeholder text, ever.

    ``quarantined``: the model answered a valid profile that breaks an ERROR hallucination
    rule; it is kept for review and never published (unless a reviewer approves it).
    ``rejected``: a reviewer rejected the latest attempt (``enrichment review reject``); the
    listing is sent to the model again on the next run, once.
    """

    OK = "ok"
    QUARANTINED = "quarantined"
    INSUFFICIENT_SOURCE = "insufficient_source"
    NOT_A_DOG = "not_a_dog"
    FAILED = "failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    REJECTED = "rejected"


GoodWith = Literal["yes", "no", "maybe", "unknown"]


class DogProfile(BaseModel):
    """The adoption profile a model writes for one dog (the structured output schema).

    Modeled on the production schema of the system this project follows. Every enum may be
    ``None`` (or ``unknown`` for the ``good_with_*`` fields) when the listing is silent;
    ``source_references`` maps a field name to an exact quote from the listing that
    supports it, and ``confidence_scores`` maps a field name to the model's confidence
    in 0..1.
    """

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=20, max_length=2500)
    tagline: str = Field(min_length=3, max_length=120)
    energy_level: Literal["low", "medium", "high", "very_high"] | None = None
    trainability: Literal["easy", "moderate", "challenging"] | None = None
    sociability: Literal["reserved", "selective", "social", "very_social"] | None = None
    confidence: Literal["shy", "moderate", "confident"] | None = None
    good_with_dogs: GoodWith = "unknown"
    good_with_cats: GoodWith = "unknown"
    good_with_children: GoodWith = "unknown"
    home_type: Literal["apartment_ok", "house_preferred", "house_with_garden"] | None = None
    experience_level: Literal["first_time_ok", "some_experience", "experienced_only"] | None = None
    exercise_needs: Literal["minimal", "moderate", "high"] | None = None
    grooming_needs: Literal["minimal", "weekly", "frequent"] | None = None
    medical_needs: str | None = None
    special_needs: str | None = None
    personality_traits: list[str] = Field(default_factory=list, max_length=8)
    favorite_activities: list[str] = Field(default_factory=list, max_length=8)
    unique_quirk: str | None = None
    confidence_scores: dict[str, float] = Field(default_factory=dict)
    source_references: dict[str, str] = Field(default_factory=dict)

    @field_validator("confidence_scores")
    @classmethod
    def _scores_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for field, score in value.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"confidence_scores[{field!r}] = {score}: must be within 0..1")
        return value


class TranslatedProfileText(BaseModel):
    """The profile text in one target language (the translation task's output schema)."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=2, max_length=8)
    tagline: str = Field(min_length=3, max_length=160)
    description: str = Field(min_length=20, max_length=4000)


class QualityScore(BaseModel):
    """Rubric result for one profile: ``score`` 0..100, components each 0..100."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=100)
    components: dict[str, float]
    needs_review: bool
    reasons: list[str] = Field(default_factory=list)
