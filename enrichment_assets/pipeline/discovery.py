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

from enrichment_assets.domain.contract import bounded
from enrichment_assets.pipeline.batching import contiguous_chunks
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
    """``scrapes`` grouped by organization (sorted keys; file order kept): ``raw_records``
    ingests every new file of a partition in one materialization, so one run carries all
    the new files of an organization."""
    groups: dict[str, list[ScrapeFile]] = {}
    for scrape in scrapes:
        groups.setdefault(scrape.organization, []).append(scrape)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class ScrapeBatch:
    """One run of the sensor: the new files of ``organizations`` (a contiguous range of
    partitions in insertion order, first to last), see :func:`batch_new_scrapes`."""

    organizations: tuple[str, ...]
    scrapes: tuple[ScrapeFile, ...]

    @property
    def first(self) -> str:
        return self.organizations[0]

    @property
    def last(self) -> str:
        return self.organizations[-1]

    @property
    def run_key(self) -> str:
        """``<organization>:<sha256>`` for one organization (:func:`run_key`, the key the
        sensor has always given it); ``<first>..<last>:<sha256 of the sorted
        "<organization>:<sha256>" lines>`` for several. The same files always give the same
        key, so Dagster never launches a batch twice."""
        if len(self.organizations) == 1:
            return run_key(self.first, list(self.scrapes))
        lines = sorted({f"{s.organization}:{s.sha256}" for s in self.scrapes})
        digest = hashlib.sha256(chr(10).join(lines).encode("utf-8")).hexdigest()
        return f"{self.first}..{self.last}:{digest}"

    def tags(self, limit: int = 200) -> dict[str, str]:
        """Run tags naming the batch: ``enrichment/scrape_file`` (the file names,
        ``<organization>/<file>`` when there are several organizations, cut to ``limit``
        characters), ``enrichment/scrape_files`` (how many files), ``enrichment/organizations``
        (how many organizations) and ``enrichment/scrape_sha256`` (the run key's hash)."""
        several = len(self.organizations) > 1
        names = ", ".join(f"{s.organization}/{s.path.name}" if several else s.path.name
                          for s in self.scrapes)
        return {"enrichment/scrape_file": bounded(names, limit),
                "enrichment/scrape_files": str(len(self.scrapes)),
                "enrichment/organizations": str(len(self.organizations)),
                "enrichment/scrape_sha256": self.run_key.rsplit(":", 1)[1]}


def batch_new_scrapes(plan: ScrapePlan, known_order: list[str], max_per_run: int) -> list[ScrapeBatch]:
    """The sensor's runs for ``plan.new_files``: as few as ranged runs of at most
    ``max_per_run`` partitions allow (:func:`~enrichment_assets.pipeline.batching.contiguous_chunks`,
    the same chunking as Dagster's ``BackfillPolicy.multi_run`` applies to an asset backfill).

    ``known_order``: the registered partitions in insertion order
    (``instance.get_dynamic_partitions``); ``plan.new_organizations`` are appended in their
    order (the order of the tick's add request, which the daemon inserts before it submits
    the runs). Organizations with new files that are adjacent in that order share a run; an
    organization without new files between two with new files splits them (it is not run
    for nothing: a range run would materialize it too, and retry its failed listings).
    1,000 new organizations give ``ceil(1000 / max_per_run)`` batches.
    """
    groups = by_organization(plan.new_files)
    known = set(known_order)
    order = list(known_order) + [org for org in plan.new_organizations if org not in known]
    return [ScrapeBatch(organizations=tuple(chunk),
                        scrapes=tuple(s for org in chunk for s in groups[org]))
            for chunk in contiguous_chunks(order, list(groups), max_per_run)]


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
    request (batched into runs by :func:`batch_new_scrapes`), the organizations to add as
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
