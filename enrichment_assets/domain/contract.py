"""The scrape contract: what one line of a landing file may contain.

A scrape file is JSON Lines, UTF-8, at ``<landing>/<organization>/<scrape>.jsonl``. The
organization comes from the folder name. The first line may be a header object whose only
key is ``"__scrape__"``::

    {"__scrape__": {"scrape_id": "2026-11-21", "full": true, "scraped_at": "2026-11-21T08:00:00Z",
                    "source": "petfinder.my"}}

``full`` (default ``true``) says the file lists every current listing of the organization,
so a listing absent from it is marked removed (never deleted). Every other line is one
listing validated by :class:`ScrapeRecord`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

HEADER_KEY = "__scrape__"
ORGANIZATION_KEY_MAX_LEN = 64
_ORG_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class InvalidOrganizationKey(ValueError):
    """An organization key that cannot name a partition and a landing folder."""


def validate_organization_key(key: str) -> str:
    """Return ``key`` if it is a valid organization key, else raise.

    Rules: 1..64 characters, lower-case ASCII letters, digits, ``-`` and ``_``, starting
    with a letter or digit. That excludes path separators, ``..``, spaces and upper case
    (two keys differing only in case would collide on case-insensitive file systems).

    Raises:
        InvalidOrganizationKey: naming the key and the rule it breaks.
    """
    if not isinstance(key, str) or not key:
        raise InvalidOrganizationKey(f"organization key {key!r}: must be a non-empty string")
    if len(key) > ORGANIZATION_KEY_MAX_LEN:
        raise InvalidOrganizationKey(
            f"organization key {key[:20]!r}...: {len(key)} characters, at most "
            f"{ORGANIZATION_KEY_MAX_LEN} allowed"
        )
    if "/" in key or "\\" in key:
        raise InvalidOrganizationKey(f"organization key {key!r}: contains a path separator")
    if not _ORG_KEY_RE.match(key):
        raise InvalidOrganizationKey(
            f"organization key {key!r}: only a-z, 0-9, '-' and '_' allowed, starting with a "
            "letter or digit"
        )
    return key


class ScrapeHeader(BaseModel):
    """Optional first line of a scrape file (under the key ``__scrape__``)."""

    model_config = ConfigDict(extra="forbid")

    scrape_id: str | None = None
    full: bool = True
    scraped_at: datetime | None = None
    source: str | None = None


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class ScrapeRecord(BaseModel):
    """One listing as a scraper delivers it. Extra keys are kept as-is in the raw payload.

    Required: ``external_id`` (the organization's own id; ints are accepted and turned
    into strings), ``name``, ``description`` (may be short or empty text: the profile
    stage decides what is too little; it must be present). Everything else is optional
    and missing stays missing: no field has a default other than ``None``.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=200)
    name: str = Field(max_length=200)
    description: str
    species: str | None = None
    breed: str | None = None
    age_text: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    size: str | None = None
    weight_kg: float | None = Field(default=None, gt=0, lt=150)
    height_cm: float | None = Field(default=None, gt=0, lt=150)
    neutered: bool | None = None
    vaccinated: bool | None = None
    fee: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    url: str | None = None
    location: str | None = None

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_to_str(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value  # let pydantic reject it
        if isinstance(value, int):
            return str(value)
        return value

    @field_validator(
        "species", "breed", "age_text", "sex", "size", "currency", "url", "location",
        "birth_date", "weight_kg", "height_cm", "fee", mode="before",
    )
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_to_none(value)
