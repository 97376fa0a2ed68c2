"""Stage 1, ``raw_records``: validate new scrape files of an organization and store them.

Each scrape file is processed once (keyed by its sha256). Accepted lines are upserted into
``raw_records``; every rejected line is kept in ``rejected_records`` with its reason; a full
scrape marks listings it no longer contains as removed (never deletes them).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError

from enrichment_assets.domain.contract import HEADER_KEY, ScrapeHeader, ScrapeRecord
from enrichment_assets.sources.landing import ScrapeFile, list_scrape_files
from enrichment_assets.storage.database import (
    stable_hash, sync_rows, to_naive_utc, utcnow,
)
from enrichment_assets.storage.schema import raw_records, rejected_records, scrape_files


@dataclass
class Rejection:
    """One rejected line: where it was and why."""

    line_no: int
    external_id: str | None
    raw: str
    reason: str


@dataclass
class ParsedScrape:
    """A scrape file split into header, accepted records and rejections."""

    header: ScrapeHeader
    records: list[ScrapeRecord]
    rejections: list[Rejection]
    lines: int


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        parts.append(f"field {loc}: {err['msg']}")
    return "; ".join(parts)


def parse_scrape(path: Path) -> ParsedScrape:
    """Parse and validate one scrape file line by line (see the contract module).

    Never raises for bad content: a line that is not JSON, not an object, fails the
    contract or repeats an ``external_id`` of the same file becomes a :class:`Rejection`
    whose reason names the line, the record and the field. A broken header rejects the
    header line and the file is read with default header values.
    """
    header = ScrapeHeader()
    records: list[ScrapeRecord] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    lines = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\n")
            if not text.strip():
                continue
            lines += 1
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                rejections.append(Rejection(line_no, None, text, f"line {line_no}: not valid JSON ({exc.msg})"))
                continue
            if not isinstance(data, dict):
                rejections.append(Rejection(line_no, None, text, f"line {line_no}: not a JSON object"))
                continue
            if line_no == 1 and HEADER_KEY in data:
                try:
                    header = ScrapeHeader.model_validate(data[HEADER_KEY])
                except ValidationError as exc:
                    rejections.append(Rejection(line_no, None, text, f"line 1: scrape header: {_validation_reason(exc)}"))
                continue
            external_id = data.get("external_id")
            ref = str(external_id) if external_id not in (None, "") else None
            try:
                record = ScrapeRecord.model_validate(data)
            except ValidationError as exc:
                who = f"external_id {ref!r}" if ref else "record without external_id"
                rejections.append(Rejection(line_no, ref, text, f"line {line_no}, {who}: {_validation_reason(exc)}"))
                continue
            if record.external_id in seen:
                rejections.append(Rejection(line_no, record.external_id, text,
                                            f"line {line_no}, external_id {record.external_id!r}: duplicate within the file"))
                continue
            seen.add(record.external_id)
            records.append(record)
    return ParsedScrape(header=header, records=records, rejections=rejections, lines=lines)


@dataclass
class RawResult:
    """What one ``raw_records`` materialization did for one organization."""

    organization: str
    files: list[str] = field(default_factory=list)
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    active_listings: int = 0
    rejection_reasons: list[str] = field(default_factory=list)


def _scrape_order(item: tuple[ScrapeFile, ParsedScrape]) -> tuple:
    scrape, parsed = item
    when = to_naive_utc(parsed.header.scraped_at)
    return (when is None, when or 0, scrape.path.name)


def pending_scrape_files(engine: sa.Engine, landing: Path, organization: str) -> list[ScrapeFile]:
    """Scrape files of ``organization`` in the landing folder not yet processed."""
    files = list(list_scrape_files(landing, organization))
    if not files:
        return []
    with engine.connect() as conn:
        done = set(conn.execute(
            sa.select(scrape_files.c.sha256).where(scrape_files.c.organization == organization)
        ).scalars())
    return [f for f in files if f.sha256 not in done]


def ingest_organization(engine: sa.Engine, landing: Path, organization: str) -> RawResult:
    """Process every pending scrape file of ``organization``, oldest scrape first.

    One transaction per file, so a crash leaves each file either fully applied or pending.
    """
    result = RawResult(organization=organization)
    parsed = [(f, parse_scrape(f.path)) for f in pending_scrape_files(engine, landing, organization)]
    for scrape, scrape_parsed in sorted(parsed, key=_scrape_order):
        _apply_scrape(engine, organization, scrape, scrape_parsed, result)
    with engine.connect() as conn:
        result.active_listings = conn.execute(
            sa.select(sa.func.count()).select_from(raw_records).where(
                raw_records.c.organization == organization, raw_records.c.removed_at.is_(None))
        ).scalar_one()
    return result


def _apply_scrape(engine: sa.Engine, organization: str, scrape: ScrapeFile,
                  parsed: ParsedScrape, result: RawResult) -> None:
    now = utcnow()
    scraped_at = to_naive_utc(parsed.header.scraped_at)
    seen_at = scraped_at or now
    rows = []
    for record in parsed.records:
        payload = record.model_dump(mode="json", exclude_none=True)
        rows.append({
            "organization": organization,
            "external_id": record.external_id,
            "payload": payload,
            "payload_hash": stable_hash(payload),
            "scrape_sha256": scrape.sha256,
            "scraped_at": scraped_at,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "removed_at": None,
        })
    rejected = [{
        "organization": organization,
        "stage": "contract",
        "record_ref": f"{scrape.sha256}:{r.line_no}",
        "external_id": r.external_id,
        "scrape_sha256": scrape.sha256,
        "line_no": r.line_no,
        "raw": r.raw[:20000],
        "reason": r.reason,
        "rejected_at": now,
    } for r in parsed.rejections]
    with engine.begin() as conn:
        sync = sync_rows(conn, raw_records, rows, keep=("first_seen_at",))
        sync_rows(conn, rejected_records, rejected)
        removed = 0
        if parsed.header.full:
            ids = [r.external_id for r in parsed.records]
            stmt = (sa.update(raw_records)
                    .where(raw_records.c.organization == organization,
                           raw_records.c.removed_at.is_(None))
                    .values(removed_at=seen_at))
            if ids:
                stmt = stmt.where(raw_records.c.external_id.not_in(ids))
            removed = conn.execute(stmt).rowcount or 0
        conn.execute(sa.insert(scrape_files).values(
            sha256=scrape.sha256, organization=organization, path=str(scrape.path),
            scrape_id=parsed.header.scrape_id or scrape.path.stem, full_scrape=parsed.header.full,
            scraped_at=scraped_at, lines=parsed.lines, accepted=len(parsed.records),
            rejected=len(parsed.rejections), processed_at=now,
        ))
    result.files.append(scrape.path.name)
    result.lines += parsed.lines
    result.accepted += len(parsed.records)
    result.rejected += len(parsed.rejections)
    result.inserted += sync.inserted
    result.updated += sync.updated
    result.unchanged += sync.unchanged
    result.removed += removed
    result.rejection_reasons.extend(r.reason for r in parsed.rejections)


def rejection_counts(reasons: list[str]) -> dict[str, int]:
    """Rejection reasons grouped by the field they name (for materialization metadata)."""
    counter: Counter[str] = Counter()
    for reason in reasons:
        if "field " in reason:
            counter[reason.split("field ", 1)[1].split(":", 1)[0]] += 1
        elif "duplicate" in reason:
            counter["duplicate external_id"] += 1
        else:
            counter["unparsable line"] += 1
    return dict(counter)
