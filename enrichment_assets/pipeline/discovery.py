"""Finding new scrape files: the logic behind ``new_scrape_sensor`` and ``enrichment run``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from enrichment_assets.domain.contract import InvalidOrganizationKey, validate_organization_key
from enrichment_assets.sources.landing import ScrapeFile, list_scrape_files


@dataclass
class ScrapePlan:
    """New scrape files since ``cursor`` and the organizations that are not partitions yet.

    ``invalid_folders`` lists landing sub-folders whose names are not valid organization
    keys, with the reason; their files are never picked up.
    """

    new_files: list[ScrapeFile] = field(default_factory=list)
    new_organizations: list[str] = field(default_factory=list)
    invalid_folders: list[str] = field(default_factory=list)
    cursor: str = "[]"


def plan_new_scrapes(landing: Path, known_partitions: set[str], cursor: str | None) -> ScrapePlan:
    """Compare the landing folder with ``cursor`` (a JSON list of seen file sha256s).

    Returns the unseen files (one run each, run key = sha256), the organizations to add as
    partitions, and the next cursor. A file whose bytes were seen before (even under another
    name) is not new.
    """
    seen = set(json.loads(cursor)) if cursor else set()
    plan = ScrapePlan()
    if landing.exists():
        for folder in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                validate_organization_key(folder.name)
            except InvalidOrganizationKey as exc:
                plan.invalid_folders.append(f"{folder}: {exc}")
    invalid = {Path(item.split(": ", 1)[0]).name for item in plan.invalid_folders}
    new_orgs: set[str] = set()
    for scrape in list_scrape_files(landing):
        if scrape.organization in invalid or scrape.sha256 in seen:
            continue
        seen.add(scrape.sha256)
        plan.new_files.append(scrape)
        if scrape.organization not in known_partitions:
            new_orgs.add(scrape.organization)
    plan.new_organizations = sorted(new_orgs)
    plan.cursor = json.dumps(sorted(seen))
    return plan


def landing_organizations(landing: Path) -> list[str]:
    """Valid organization keys that have at least one scrape file in ``landing``."""
    return sorted({f.organization for f in list_scrape_files(landing)
                   if _valid(f.organization)})


def _valid(key: str) -> bool:
    try:
        validate_organization_key(key)
    except InvalidOrganizationKey:
        return False
    return True
