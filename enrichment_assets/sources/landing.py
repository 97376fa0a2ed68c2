"""Writing and reading scrape files in the landing folder.

Layout: ``<landing>/<organization>/<scrape_id>.jsonl``; see
:mod:`enrichment_assets.domain.contract` for the line format and the optional header.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from enrichment_assets.domain.contract import HEADER_KEY, validate_organization_key


@dataclass(frozen=True)
class ScrapeFile:
    """A scrape file found in the landing folder. ``sha256`` is of the file's bytes."""

    organization: str
    path: Path
    sha256: str


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes (the sensor's run key)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_scrape_file(
    landing: Path,
    organization: str,
    scrape_id: str,
    records: Iterable[dict[str, Any]],
    *,
    full: bool = True,
    scraped_at: datetime | None = None,
    source: str | None = None,
) -> Path:
    """Write one scrape file atomically (temp file + rename) and return its path.

    Values that are ``None`` are left out of each line, so missing stays missing. The
    write is atomic so a sensor never sees half a file.

    Raises:
        InvalidOrganizationKey: when ``organization`` is not a valid key.
        ValueError: when ``scrape_id`` contains a path separator.
    """
    validate_organization_key(organization)
    if "/" in scrape_id or "\\" in scrape_id or scrape_id.startswith("."):
        raise ValueError(f"scrape id {scrape_id!r}: must be a plain file name")
    folder = landing / organization
    folder.mkdir(parents=True, exist_ok=True)
    header = {"scrape_id": scrape_id, "full": full}
    if scraped_at is not None:
        header["scraped_at"] = scraped_at.isoformat()
    if source is not None:
        header["source"] = source
    target = folder / f"{scrape_id}.jsonl"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".jsonl")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({HEADER_KEY: header}, ensure_ascii=False) + "\n")
        for record in records:
            clean = {k: v for k, v in record.items() if v is not None}
            handle.write(json.dumps(clean, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return target


def list_scrape_files(landing: Path, organization: str | None = None) -> Iterator[ScrapeFile]:
    """Scrape files under ``landing`` (one organization or all), sorted by path.

    Folders whose name is not a valid organization key are skipped here; the sensor reports
    them. Hidden files (temp files of a write in progress) are ignored.
    """
    if not landing.exists():
        return
    folders = [landing / organization] if organization else sorted(p for p in landing.iterdir() if p.is_dir())
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.jsonl")):
            if path.name.startswith("."):
                continue
            yield ScrapeFile(organization=folder.name, path=path, sha256=file_sha256(path))
