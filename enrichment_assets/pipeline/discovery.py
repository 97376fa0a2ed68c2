"""Finding new scrape files: the logic behind ``new_scrape_sensor`` and ``enrichment run``.

A scrape file is identified by ``(organization, sha256)``: the same bytes under two
organizations are two files. A file is new when it is neither processed (a
``scrape_files`` row, whichever path processed it: a sensor run or ``enrichment run``) nor
already requested by the sensor (its cursor, one list per organization).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from enrichment_assets.sources.landing import RecordedFiles, ScrapeFile, scan_landing


@dataclass
class ScrapePlan:
    """New scrape files and the organizations that are not partitions yet.

    ``problems``: landing entries that are never read, one line each with the entry's
    name and the reason (invalid organization folders, directories/FIFOs/symbolic links
    named ``*.jsonl``, ...). ``cursor``: JSON object organization -> requested sha256s that
    are not processed yet. ``rehashed``: files that were read and hashed although processed
    (their stat changed, e.g. ``touch``): pass them to
    :func:`enrichment_assets.pipeline.raw.record_file_stats`. ``hashed``: how many files
    were read to hash them.
    """

    new_files: list[ScrapeFile] = field(default_factory=list)
    rehashed: list[ScrapeFile] = field(default_factory=list)
    hashed: int = 0
    new_organizations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cursor: str = "{}"


def run_key(organization: str, scrapes: list[ScrapeFile]) -> str:
    """The sensor's run key of one organization's new files: ``<organization>:<sha256>`` for
    one file, ``<organization>:<sha256 of the sorted file sha256s, one per line>`` for several.
    The same set of files always gives the same key, so Dagster never launches it twice."""
    shas = sorted({s.sha256 for s in scrapes})
    if len(shas) == 1:
        return f"{organization}:{shas[0]}"
    return f"{organization}:{hashlib.sha256(chr(10).join(shas).encode('ascii')).hexdigest()}"


def by_organization(scrapes: list[ScrapeFile]) -> dict[str, list[ScrapeFile]]:
    """``scrapes`` grouped by organization (sorted keys; file order kept): one sensor run per
    organization carries all its new files, since ``raw_records`` ingests every new file of
    the partition in one materialization."""
    groups: dict[str, list[ScrapeFile]] = {}
    for scrape in scrapes:
        groups.setdefault(scrape.organization, []).append(scrape)
    return dict(sorted(groups.items()))


def _requested(cursor: str | None) -> tuple[dict[str, set[str]], set[str]]:
    """(per-organization requested sha256s, sha256s of the old global cursor format)."""
    if not cursor:
        return {}, set()
    value = json.loads(cursor)
    if isinstance(value, list):  # before issue 9: one global list of sha256s
        return {}, set(value)
    return {org: set(shas) for org, shas in value.items()}, set()


def plan_new_scrapes(landing: Path, known_partitions: set[str], cursor: str | None,
                     processed: dict[str, set[str]] | None = None,
                     recorded: RecordedFiles | None = None) -> ScrapePlan:
    """Compare the landing folder with ``cursor`` and the ``processed`` files.

    ``processed``: organization -> sha256s with a ``scrape_files`` row
    (:func:`enrichment_assets.pipeline.raw.processed_scrape_files`). ``recorded``: the
    recorded stat of processed files (:func:`enrichment_assets.pipeline.raw.recorded_scrape_files`):
    a file with its recorded path, size and mtime is not read. Returns the files to
    request (one run per organization, run key :func:`run_key`), the organizations to add as
    partitions, the problems of the landing folder and the next cursor (which keeps only
    requested files that are still in the landing folder and not processed).
    """
    processed = processed or {}
    requested, legacy = _requested(cursor)
    scan = scan_landing(landing, recorded=recorded)
    plan = ScrapePlan(problems=scan.problems())
    still: dict[str, set[str]] = {}
    new_orgs: set[str] = set()
    for scrape in scan.files:
        org, sha = scrape.organization, scrape.sha256
        plan.hashed += not scrape.recorded
        if sha in processed.get(org, ()):
            if not scrape.recorded:
                plan.rehashed.append(scrape)
            continue
        if sha in requested.get(org, ()) or sha in legacy:
            still.setdefault(org, set()).add(sha)
            continue
        if sha in still.get(org, ()):
            continue  # the same bytes twice in one folder: one run
        still.setdefault(org, set()).add(sha)
        plan.new_files.append(scrape)
        if org not in known_partitions:
            new_orgs.add(org)
    plan.new_organizations = sorted(new_orgs)
    plan.cursor = json.dumps({org: sorted(shas) for org, shas in sorted(still.items())})
    return plan


def landing_files(landing: Path, problems: list[str] | None = None,
                  recorded: RecordedFiles | None = None) -> list[ScrapeFile]:
    """The readable scrape files of ``landing`` (sorted by path), with their stat and sha256.

    Entries that are never read are appended to ``problems`` (when given). ``recorded``
    (:func:`enrichment_assets.pipeline.raw.recorded_scrape_files`): files with their
    recorded path, size and mtime are not read.
    """
    scan = scan_landing(landing, recorded=recorded)
    if problems is not None:
        problems.extend(scan.problems())
    return scan.files


def landing_organizations(landing: Path, problems: list[str] | None = None,
                          recorded: RecordedFiles | None = None) -> list[str]:
    """Valid organization keys that have at least one readable scrape file in ``landing``
    (``problems``, ``recorded``: as :func:`landing_files`)."""
    return sorted({f.organization for f in landing_files(landing, problems, recorded)})
