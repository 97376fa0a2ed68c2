"""Skipping organizations whose inputs are those of their last complete run (issue 11).

The Dagster idea of "stale assets only" with one explicit fingerprint per organization: a
sha256 over everything that can change what a run does for it. :func:`shared_inputs` is the
part all organizations share (non-secret settings, the effective model, the code and
vocabulary versions); :func:`fingerprints` adds each organization's scrape files (path,
size, mtime_ns and sha256 as the landing scan gathered them: nothing is read again), its
resolved prompt config and its review decisions (count, highest id). :func:`unchanged`
decides which organizations may be skipped. Pure: the callers do the SQL
(:mod:`enrichment_assets.storage.fingerprints`) and the landing scan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from enrichment_assets.sources.landing import ScrapeFile

_PACKAGE = Path(__file__).resolve().parents[1]


def shared_inputs(settings_values: Mapping[str, str], effective_model: str) -> dict[str, Any]:
    """The inputs every organization's fingerprint contains.

    ``settings_values``: the non-secret effective settings
    (:func:`enrichment_assets.settings.effective_settings_metadata`: secrets only as set /
    unset). Adds the effective model, the normalizer, rules and rubric versions and a digest
    of the package's Python sources (any code change runs everything once more).

    Raises:
        OSError: a source file cannot be read.
    """
    from enrichment_assets.pipeline.hallucination import rules_version
    from enrichment_assets.pipeline.normalize import normalizer_version
    from enrichment_assets.pipeline.quality import rubric_version
    from enrichment_assets.pipeline.versions import files_digest

    return {"settings": dict(sorted(settings_values.items())), "model": effective_model,
            "normalizer": normalizer_version(), "rules": rules_version(), "rubric": rubric_version(),
            "code": files_digest(sorted(_PACKAGE.rglob("*.py")))}


def fingerprints(organizations: Iterable[str], files: Iterable[ScrapeFile], configs: Mapping[str, Any],
                 reviews: Mapping[str, tuple[int, int]], shared: Mapping[str, Any]) -> dict[str, str]:
    """organization -> sha256 hex of its inputs.

    ``files``: the landing scan's scrape files (any organizations); ``configs``: organization
    -> resolved prompt config (a pydantic model, or anything JSON-serialisable); ``reviews``:
    organization -> (decision count, highest decision id); ``shared``: :func:`shared_inputs`.
    """
    by_org: dict[str, list[list[Any]]] = {}
    for f in files:
        by_org.setdefault(f.organization, []).append([str(f.path), f.size, f.mtime_ns, f.sha256])
    common = json.dumps(shared, sort_keys=True, default=str)
    out: dict[str, str] = {}
    for org in organizations:
        config = configs.get(org)
        config = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        document = json.dumps({"files": sorted(by_org.get(org, [])), "config": config,
                               "reviews": list(reviews.get(org, (0, 0)))}, sort_keys=True, default=str)
        out[org] = hashlib.sha256(f"{org}\0{common}\0{document}".encode()).hexdigest()
    return out


def unchanged(current: Mapping[str, str], recorded: Mapping[str, tuple[str, str, datetime]],
              incomplete: Collection[str], foreign_run_after: datetime | None = None) -> list[str]:
    """Organizations of ``current`` (organization -> fingerprint) that need no run, sorted.

    One is unchanged when its ``recorded`` row (fingerprint, run_id, recorded_at) has the same
    fingerprint, it is not ``incomplete`` (a failed or budget-exhausted listing) and no
    Dagster run other than ``enrichment run``'s started after its row was recorded
    (``foreign_run_after``: the latest such run's start, naive UTC; a sensor, schedule or
    backfill run may have changed it). When in doubt it runs.
    """
    out = []
    for org, fingerprint in current.items():
        row = recorded.get(org)
        if row is None or row[0] != fingerprint or org in incomplete:
            continue
        if foreign_run_after is not None and foreign_run_after >= row[2]:
            continue
        out.append(org)
    return sorted(out)
