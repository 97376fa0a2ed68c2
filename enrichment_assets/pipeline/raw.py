"""Stage 1, ``raw_records``: validate new scrape files of an organization and store them.

A line is the unit of failure: every line of a file ends either stored (upserted into
``raw_records``, or, for a valid header, as the file's metadata) or rejected (kept in
``rejected_records`` with a bounded reason naming the file, the line and the field).
Nothing in one line can fail the file, the organization or the run.

A file is the unit of trust (:func:`file_health`): a file whose header is invalid, that
yields no accepted listing, or whose accepted share is below
:data:`~enrichment_assets.domain.contract.MIN_ACCEPTED_SHARE` is *quarantined*: its
accepted listings are still stored (no listing is lost), but it marks nothing removed; the
file stays in the landing folder, is listed by ``enrichment status``, gets an alert row and
fails the ``raw_records_scrape_files_healthy`` check. Removal from a full scrape needs a
healthy file, and a sudden drop (more than
:data:`~enrichment_assets.domain.contract.MAX_REMOVAL_SHARE` of the active listings and at
least :data:`~enrichment_assets.domain.contract.MIN_HELD_REMOVALS`) is *held* until an
operator confirms it (:func:`confirm_held_removals`, ``enrichment confirm-removals``).

Files are identified per organization by ``(organization, sha256)`` and processed once
each, oldest scrape first, one transaction per file. Lines are read as bytes split on
``b"\\n"`` only (a lone CR is data), at most
:data:`~enrichment_assets.domain.contract.MAX_LINE_BYTES` of a line is buffered, and the
accepted listings of one file are held in memory while it is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from pydantic import ValidationError

from enrichment_assets.domain.contract import (
    HEADER_KEY, MAX_ID_CHARS, MAX_LINE_BYTES, MAX_RAW_CHARS, MAX_REASON_CHARS, MAX_REMOVAL_SHARE,
    MIN_ACCEPTED_SHARE, MIN_HELD_REMOVALS, UTF8_BOM, UTF16_BOMS, LineRejected, ScrapeHeader,
    ScrapeRecord, bounded, check_line_bytes, cut_long_text, decode_line, find_unstorable, loads_line,
)
from enrichment_assets.pipeline.alerts import Alert, store_alerts
from enrichment_assets.sources.landing import (
    RecordedFile, RecordedFiles, ScrapeFile, open_scrape_file, scan_landing,
)
from enrichment_assets.storage.database import rows_by_organization, stable_hash, sync_rows, to_naive_utc, upsert, utcnow
from enrichment_assets.storage.schema import raw_records, rejected_records, scrape_files

STAGE = "contract"
APPLIED, QUARANTINED, HELD = "applied", "quarantined", "held"
_CHUNK_BYTES = 1 << 20
_SQL_CHUNK = 500
#: The database refused a value: the listing becomes a rejection (see _apply_one_by_one).
_DATA_ERRORS = (sa.exc.StatementError, ValueError, UnicodeError)
#: Connection-level failures are not about the data: the run fails and the file stays pending.
_TRANSIENT_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)


# ---------------------------------------------------------------------------------------
# Reading lines
# ---------------------------------------------------------------------------------------


@dataclass
class RawLine:
    """One line of a file as bytes: ``data`` is None when it is over the line limit
    (then ``head`` keeps its first bytes for the stored copy). ``offset``: byte offset
    of the line in the file; ``size``: bytes without the ``\\n``."""

    line_no: int
    offset: int
    size: int
    data: bytes | None
    head: bytes = b""


def iter_lines(handle: IO[bytes], digest: Any | None = None) -> Iterator[RawLine]:
    """The lines of a binary file, split on ``b"\\n"`` only; feeds ``digest`` (hashlib).

    At most :data:`MAX_LINE_BYTES` of a line is buffered: a longer line is counted and
    skipped (``data`` None, ``head`` its first :data:`MAX_RAW_CHARS` bytes). The empty
    piece after a final ``\\n`` is not a line.
    """
    buf = bytearray()
    head = b""
    line_no = offset = size = 0
    overflow = False
    while chunk := handle.read(_CHUNK_BYTES):
        if digest is not None:
            digest.update(chunk)
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            stop = len(chunk) if nl < 0 else nl
            if not overflow:
                if len(buf) + stop - start > MAX_LINE_BYTES:
                    head = bytes(buf[:MAX_RAW_CHARS]) + chunk[start:start + max(0, MAX_RAW_CHARS - len(buf))]
                    overflow = True
                    buf.clear()
                else:
                    buf += chunk[start:stop]
            size += stop - start
            if nl < 0:
                break
            line_no += 1
            yield RawLine(line_no, offset, size, None if overflow else bytes(buf), head)
            offset += size + 1
            size = 0
            buf.clear()
            head = b""
            overflow = False
            start = nl + 1
    if size:
        yield RawLine(line_no + 1, offset, size, None if overflow else bytes(buf), head)


# ---------------------------------------------------------------------------------------
# Parsing a file
# ---------------------------------------------------------------------------------------


@dataclass
class Rejection:
    """One rejected line: where it was and why. ``field``: ``line`` for the whole line,
    ``header`` for the header, else the field path; ``raw``: the stored copy of the line."""

    line_no: int
    external_id: str | None
    raw: str
    reason: str
    field: str = "line"


@dataclass
class AcceptedLine:
    """A line that passed the contract; ``cut_reason`` says which fields were cut."""

    line_no: int
    record: ScrapeRecord
    cut_reason: str | None = None


@dataclass
class ParsedScrape:
    """A scrape file split into header, accepted listings and rejections.

    ``lines``: every line (header included); ``listing_lines``: lines other than a valid
    header; ``header_problem``: why the header (or the file's start) is invalid, else None;
    ``sha256`` and ``size`` of the bytes read.
    """

    header: ScrapeHeader
    accepted: list[AcceptedLine]
    rejections: list[Rejection]
    lines: int
    listing_lines: int
    header_problem: str | None = None
    sha256: str = ""
    size: int = 0

    @property
    def records(self) -> list[ScrapeRecord]:
        return [a.record for a in self.accepted]


def raw_copy(data: bytes, size: int | None = None) -> str:
    """The stored copy of a line (``rejected_records.raw``): UTF-8 with invalid bytes as
    ``\\xNN`` escapes and NUL as ``\\x00`` (storable on every backend), cut to
    :data:`MAX_RAW_CHARS` with the line's full size appended when cut."""
    size = len(data) if size is None else size
    text = data[:MAX_RAW_CHARS].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    if size > MAX_RAW_CHARS:
        text = f"{text[:MAX_RAW_CHARS]}… [line cut: {size:,} bytes in all]"
    return text


def column_text(value: Any, limit: int = MAX_ID_CHARS) -> str:
    """``value`` as printable, storable text of at most ``limit`` characters (id columns)."""
    return bounded(value, limit)[:limit]


def _validation_problems(exc: ValidationError) -> tuple[str, str]:
    parts = []
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors[:3]:
        loc = ".".join(bounded(p, 40) for p in err["loc"]) or "<record>"
        parts.append(f"field {loc}: {bounded(err['msg'], 200)}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    first = ".".join(str(p) for p in errors[0]["loc"]) if errors else "<record>"
    return "; ".join(parts), bounded(first or "<record>", 40)


def _external_id_of(data: Any) -> str | None:
    if isinstance(data, dict):
        value = data.get("external_id")
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


class _Parser:
    """Turns the lines of one file into accepted lines and rejections."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.header = ScrapeHeader()
        self.header_problem: str | None = None
        self.accepted: list[AcceptedLine] = []
        self.rejections: list[Rejection] = []
        self.seen: set[str] = set()
        self.lines = 0
        self.header_ok = False

    def reject(self, line: RawLine, message: str, field: str = "line", external_id: str | None = None) -> None:
        who = f", external_id '{bounded(external_id)}'" if external_id else ""
        reason = f"{self.label} line {line.line_no}{who}: {message}"[:MAX_REASON_CHARS]
        raw = raw_copy(line.data if line.data is not None else line.head, line.size)
        self.rejections.append(Rejection(line.line_no, column_text(external_id) if external_id else None,
                                         raw, reason, field))

    def header_invalid(self, line: RawLine, problem: str) -> None:
        self.header_problem = problem
        self.reject(line, f"scrape header: {problem}", "header")

    def feed(self, line: RawLine) -> None:
        self.lines += 1
        first = line.line_no == 1
        try:
            check_line_bytes(line.size)
        except LineRejected as exc:
            if first and HEADER_KEY.encode() in line.head:
                return self.header_invalid(line, exc.message)
            return self.reject(line, exc.message)
        data = line.data or b""
        if first and data.startswith(UTF8_BOM):
            return self.header_invalid(line, "the file starts with a UTF-8 byte order mark (BOM); "
                                             "scrape files are UTF-8 without BOM")
        if first and data[:2] in UTF16_BOMS:
            return self.header_invalid(line, "the file starts with a UTF-16 byte order mark; "
                                             "scrape files are UTF-8")
        if not data.strip():
            if first:
                return self.header_invalid(line, "line 1 is blank (it must be the header or a listing)")
            return self.reject(line, "blank line (no listing)")
        try:
            value = loads_line(decode_line(data, line.offset))
        except LineRejected as exc:
            if first and b'"' + HEADER_KEY.encode() + b'"' in data:
                return self.header_invalid(line, exc.message)
            return self.reject(line, exc.message, exc.field)
        if isinstance(value, dict) and HEADER_KEY in value:
            if first:
                return self.feed_header(line, value)
            return self.reject(line, f"a scrape header ({HEADER_KEY}) is only allowed on line 1")
        self.feed_record(line, value)

    def feed_header(self, line: RawLine, value: dict[str, Any]) -> None:
        problem = find_unstorable(value)
        if problem is not None:
            return self.header_invalid(line, str(problem))
        others = [k for k in value if k != HEADER_KEY]
        if others:
            shown = ", ".join(f"'{bounded(k, 40)}'" for k in others[:5])
            return self.header_invalid(line, f"unknown key(s) beside {HEADER_KEY}: {shown}")
        try:
            self.header = ScrapeHeader.model_validate(value[HEADER_KEY])
        except ValidationError as exc:
            return self.header_invalid(line, _validation_problems(exc)[0])
        self.header_ok = True

    def feed_record(self, line: RawLine, value: Any) -> None:
        if not isinstance(value, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                type(value), "a number")
            return self.reject(line, f"not a JSON object (the line is {kind})")
        ref = _external_id_of(value)
        problem = find_unstorable(value)
        if problem is not None:
            return self.reject(line, str(problem), problem.field, ref)
        value, notes = cut_long_text(value)
        try:
            record = ScrapeRecord.model_validate(value)
        except ValidationError as exc:
            message, field = _validation_problems(exc)
            return self.reject(line, message, field, ref)
        if record.external_id in self.seen:
            return self.reject(line, "field external_id: duplicate within the file", "external_id",
                               record.external_id)
        self.seen.add(record.external_id)
        self.accepted.append(AcceptedLine(line.line_no, record, "; ".join(notes) or None))


def file_label(path: Path) -> str:
    """How reasons name a file: its name, escaped and cut to 80 characters."""
    return bounded(path.name, 80)


def parse_scrape(scrape: ScrapeFile | Path) -> ParsedScrape:
    """Parse and validate one scrape file line by line (see the contract module).

    Never raises for bad content: every line becomes an accepted listing, the header, or a
    :class:`Rejection` whose reason names the file, the line, the record and the field.
    A broken header (or a BOM, a UTF-16 file, a blank first line) sets ``header_problem``
    and leaves the default header with ``full`` False (such a file never removes).

    Raises:
        OSError: when the file cannot be opened as a regular file
            (:func:`~enrichment_assets.sources.landing.open_scrape_file`).
    """
    path = scrape.path if isinstance(scrape, ScrapeFile) else Path(scrape)
    parser = _Parser(file_label(path))
    digest = hashlib.sha256()
    with open_scrape_file(scrape) as handle:
        for line in iter_lines(handle, digest):
            parser.feed(line)
        size = handle.tell()
    header = parser.header
    if parser.header_problem is not None:
        header = ScrapeHeader(full=False)
    return ParsedScrape(
        header=header, accepted=parser.accepted, rejections=parser.rejections, lines=parser.lines,
        listing_lines=parser.lines - (1 if parser.header_ok else 0), header_problem=parser.header_problem,
        sha256=digest.hexdigest(), size=size,
    )


def read_scraped_at(scrape: ScrapeFile) -> datetime | None:
    """``scraped_at`` of a file's header as naive UTC (None when absent or invalid)."""
    try:
        with open_scrape_file(scrape) as handle:
            first = next(iter_lines(handle), None)
    except OSError:
        return None
    if first is None:
        return None
    parser = _Parser(file_label(scrape.path))
    parser.feed(first)
    return to_naive_utc(parser.header.scraped_at) if parser.header_ok else None


def file_health(parsed: ParsedScrape) -> tuple[str, str | None]:
    """``("applied", None)`` for a trusted file, else ``("quarantined", reason)``.

    Quarantined: an invalid header (``header_problem``), an empty file, no accepted
    listing, or fewer accepted listings than :data:`MIN_ACCEPTED_SHARE` of the listing
    lines. The reason quotes the first rejection.
    """
    accepted, lines = len(parsed.accepted), parsed.listing_lines
    if parsed.header_problem:
        reason = f"header invalid: {parsed.header_problem}"
    elif parsed.size == 0:
        reason = "empty file (0 bytes)"
    elif not accepted:
        reason = f"no accepted listing ({lines} listing line(s), {len(parsed.rejections)} rejected)"
    elif accepted < MIN_ACCEPTED_SHARE * lines:
        reason = (f"only {accepted} of {lines} listing lines accepted "
                  f"({accepted / lines:.0%}, the floor is {MIN_ACCEPTED_SHARE:.0%})")
    else:
        return APPLIED, None
    if parsed.rejections and not parsed.header_problem:
        reason += f"; first rejection: {parsed.rejections[0].reason[:300]}"
    return QUARANTINED, reason[:MAX_REASON_CHARS]


# ---------------------------------------------------------------------------------------
# Applying files
# ---------------------------------------------------------------------------------------


@dataclass
class RawResult:
    """What one ``raw_records`` materialization did for one organization.

    ``quarantined``/``held``: ``"<file>: <reason>"`` per file; ``skipped``: landing entries
    not read (and files left pending); ``rejection_reasons``: the first 20 only;
    ``rejections_by_field``: every rejection counted by the field it names.
    """

    organization: str
    files: list[str] = field(default_factory=list)
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    cut: int = 0
    held_removals: int = 0
    active_listings: int = 0
    quarantined: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejection_reasons: list[str] = field(default_factory=list)
    rejections_by_field: Counter = field(default_factory=Counter)


def processed_scrape_files(engine: sa.Engine, organizations: Sequence[str] | None = None
                           ) -> dict[str, set[str]]:
    """sha256s of the processed scrape files, per organization: all of them, or those of
    ``organizations`` (each a key; one query per 500 organizations)."""
    c = scrape_files.c
    done: dict[str, set[str]] = {org: set() for org in organizations or ()}
    for row in _scrape_file_rows(engine, sa.select(c.organization, c.sha256), organizations):
        done.setdefault(row["organization"], set()).add(row["sha256"])
    return done


def recorded_scrape_files(engine: sa.Engine, organizations: Sequence[str] | None = None) -> RecordedFiles:
    """``(organization, path)`` -> :class:`RecordedFile` (size, mtime_ns, sha256) of the
    processed scrape files whose stat is recorded (rows since migration 0008), of all
    organizations or of ``organizations`` (one query per 500); input of
    :func:`~enrichment_assets.sources.landing.scan_landing`."""
    c = scrape_files.c
    query = sa.select(c.organization, c.path, c.size, c.mtime_ns, c.sha256).where(
        c.size.is_not(None), c.mtime_ns.is_not(None))
    return {(r["organization"], r["path"]): RecordedFile(int(r["size"]), int(r["mtime_ns"]), r["sha256"])
            for r in _scrape_file_rows(engine, query, organizations)}


def _scrape_file_rows(engine: sa.Engine, query: sa.Select, organizations: Sequence[str] | None) -> list[dict]:
    with engine.connect() as conn:
        if organizations is None:
            return [dict(r) for r in conn.execute(query).mappings()]
        grouped = rows_by_organization(conn, query, scrape_files.c.organization, organizations)
    return [row for rows in grouped.values() for row in rows]


def record_file_stats(engine: sa.Engine, files: list[ScrapeFile],
                      processed: dict[str, set[str]]) -> int:
    """Store the new stat of files that were hashed again and turned out processed.

    For each file in ``files`` that was read (not ``recorded``) and whose sha256 is in
    ``processed`` (organization -> sha256s), the ``scrape_files`` row of that organization,
    sha256 and path gets the file's size and mtime, so the next scan does not read it again
    (e.g. after ``touch``). A copy under another path than the row's is read on each scan.
    Returns the number of rows updated.
    """
    updated = 0
    todo = [f for f in files if not f.recorded and f.mtime_ns
            and f.sha256 in processed.get(f.organization, ())]
    if not todo:
        return 0
    c = scrape_files.c
    with engine.begin() as conn:
        for f in todo:
            updated += conn.execute(sa.update(scrape_files).where(
                c.organization == f.organization, c.sha256 == f.sha256, c.path == str(f.path),
            ).values(size=f.size, mtime_ns=f.mtime_ns)).rowcount or 0
    return updated


def pending_scrape_files(engine: sa.Engine, landing: Path, organization: str,
                         skipped: list[str] | None = None, record_stats: bool = True,
                         known: tuple[dict[str, set[str]], RecordedFiles] | None = None) -> list[ScrapeFile]:
    """Scrape files of ``organization`` in the landing folder not yet processed.

    A second file with the bytes of one already processed (or pending) is not pending.
    Entries that are not read are appended to ``skipped`` (``"<entry>: <reason>"``).
    A file whose path, size and mtime match its ``scrape_files`` row is not read at all
    (:func:`recorded_scrape_files`); one hashed again and found processed gets its new
    stat recorded (:func:`record_file_stats`) unless ``record_stats`` is False (the dry run
    writes nothing). ``known``: :func:`processed_scrape_files` and
    :func:`recorded_scrape_files` already read for this organization (and maybe others),
    as :func:`ingest_organizations` reads them for all of its organizations at once.
    """
    processed, recorded = known or (processed_scrape_files(engine, [organization]),
                                    recorded_scrape_files(engine, [organization]))
    scan = scan_landing(landing, organization, recorded)
    if skipped is not None:
        skipped.extend(scan.problems())
    if record_stats:
        record_file_stats(engine, scan.files, processed)
    done = set(processed.get(organization, ()))
    pending = []
    for scrape in scan.files:
        if scrape.sha256 not in done:
            done.add(scrape.sha256)
            pending.append(scrape)
    return pending


def ingest_organization(engine: sa.Engine, landing: Path, organization: str,
                        run_id: str | None = None) -> RawResult:
    """Process every pending scrape file of ``organization``, oldest scrape first.

    One transaction per file, so a crash leaves each file either fully applied or pending.
    Files quarantined or held get an alert row (``kind`` ``scrape_file``). ``run_id`` (the
    Dagster run) is recorded on each file's row for the ``raw_records`` check.
    """
    return ingest_organizations(engine, landing, [organization], run_id)[0]


def ingest_organizations(engine: sa.Engine, landing: Path, organizations: Sequence[str],
                         run_id: str | None = None) -> list[RawResult]:
    """:func:`ingest_organization` for each of ``organizations`` (a many-partition step's),
    one :class:`RawResult` each in their order. What is known of their processed files is
    read once for all of them, and their active listings are counted in one query after
    the last one: three queries per step instead of three per organization (about 1 ms
    of step time per organization; a PetFinder rescuer has 2.7 listings). Each file is
    still applied in its own transaction."""
    organizations = list(dict.fromkeys(organizations))
    known = (processed_scrape_files(engine, organizations), recorded_scrape_files(engine, organizations))
    results = []
    for organization in organizations:
        result = RawResult(organization=organization)
        pending = pending_scrape_files(engine, landing, organization, result.skipped, known=known)
        _ingest_pending(engine, organization, pending, result, run_id)
        results.append(result)
    c = raw_records.c
    with engine.connect() as conn:
        active = rows_by_organization(conn, sa.select(c.organization, sa.func.count().label("n"))
                                      .where(c.removed_at.is_(None)).group_by(c.organization),
                                      c.organization, organizations)
    for result in results:
        rows = active[result.organization]
        result.active_listings = rows[0]["n"] if rows else 0
    return results


def _ingest_pending(engine: sa.Engine, organization: str, pending: list[ScrapeFile], result: RawResult,
                    run_id: str | None) -> None:
    dated = [(read_scraped_at(f), f) for f in pending]
    dated.sort(key=lambda item: (item[0] is None, item[0] or datetime.min, item[1].path.name))
    raised: list[Alert] = []
    for _, scrape in dated:
        try:
            parsed = parse_scrape(scrape)
        except OSError as exc:
            result.skipped.append(f"'{file_label(scrape.path)}': not read, left pending ({bounded(exc, 200)})")
            continue
        if parsed.sha256 != scrape.sha256:
            result.skipped.append(f"'{file_label(scrape.path)}': changed while being read, left for the next run")
            continue
        status, reason = _apply_scrape(engine, organization, scrape, parsed, result, run_id)
        if status != APPLIED:
            raised.append(_file_alert(organization, scrape, status, reason or status, run_id))
    store_alerts(engine, raised)


def _file_alert(organization: str, scrape: ScrapeFile, status: str, reason: str, run_id: str | None) -> Alert:
    what = "quarantined" if status == QUARANTINED else "held its removals for confirmation"
    return Alert(
        dedupe_key=f"scrape_file:{organization}:{scrape.sha256}:{status}", kind="scrape_file",
        severity="ERROR" if status == QUARANTINED else "WARN",
        summary=f"scrape file {file_label(scrape.path)} {what}: {reason}"[:2000],
        check_name="raw_records_scrape_files_healthy", asset="raw_records", partition=organization,
        run_id=run_id,
    )


def _raw_row(organization: str, scrape: ScrapeFile, line: AcceptedLine, scraped_at: datetime | None,
             seen_at: datetime) -> dict[str, Any]:
    payload = line.record.model_dump(mode="json", exclude_none=True)
    return {
        "organization": organization, "external_id": line.record.external_id, "payload": payload,
        "payload_hash": stable_hash(payload), "scrape_sha256": scrape.sha256, "scraped_at": scraped_at,
        "first_seen_at": seen_at, "last_seen_at": seen_at, "removed_at": None, "cut_reason": line.cut_reason,
    }


def _rejected_row(organization: str, scrape: ScrapeFile, r: Rejection, now: datetime) -> dict[str, Any]:
    return {
        "organization": organization, "stage": STAGE, "record_ref": f"{scrape.sha256}:{r.line_no}",
        "external_id": r.external_id, "scrape_sha256": scrape.sha256, "line_no": r.line_no,
        "raw": r.raw, "reason": r.reason, "rejected_at": now,
    }


def _active_ids(conn: sa.Connection, organization: str) -> set[str]:
    return set(conn.execute(sa.select(raw_records.c.external_id).where(
        raw_records.c.organization == organization, raw_records.c.removed_at.is_(None))).scalars())


def _mark_removed(conn: sa.Connection, organization: str, ids: list[str], when: datetime) -> int:
    removed = 0
    for start in range(0, len(ids), _SQL_CHUNK):
        removed += conn.execute(sa.update(raw_records).where(
            raw_records.c.organization == organization, raw_records.c.removed_at.is_(None),
            raw_records.c.external_id.in_(ids[start:start + _SQL_CHUNK])).values(removed_at=when)).rowcount or 0
    return removed


def _apply_scrape(engine: sa.Engine, organization: str, scrape: ScrapeFile, parsed: ParsedScrape,
                  result: RawResult, run_id: str | None) -> tuple[str, str | None]:
    now = utcnow()
    scraped_at = to_naive_utc(parsed.header.scraped_at)
    seen_at = scraped_at or now
    rows = [_raw_row(organization, scrape, a, scraped_at, seen_at) for a in parsed.accepted]
    status, reason = file_health(parsed)
    removed, held = 0, []
    try:
        with engine.begin() as conn:
            sync = sync_rows(conn, raw_records, rows, keep=("first_seen_at",))
            sync_rows(conn, rejected_records, [_rejected_row(organization, scrape, r, now) for r in parsed.rejections])
            if status == APPLIED and parsed.header.full:
                active = _active_ids(conn, organization)
                gone = sorted(active - {r["external_id"] for r in rows})
                if len(gone) >= MIN_HELD_REMOVALS and len(gone) > MAX_REMOVAL_SHARE * len(active):
                    status, held = HELD, gone
                    reason = (f"would mark {len(gone)} of {len(active)} active listings removed (more than "
                              f"{MAX_REMOVAL_SHARE:.0%}): held; confirm with `enrichment confirm-removals "
                              f"{organization} --file {scrape.sha256[:12]}`")
                else:
                    removed = _mark_removed(conn, organization, gone, seen_at)
            _insert_file_row(conn, organization, scrape, parsed, status, reason, removed, held, run_id, now)
    except _TRANSIENT_ERRORS:
        raise
    except _DATA_ERRORS as exc:
        return _apply_one_by_one(engine, organization, scrape, parsed, rows, result, run_id, exc)
    _count(result, scrape, parsed, status, reason)
    result.inserted += sync.inserted
    result.updated += sync.updated
    result.unchanged += sync.unchanged
    result.removed += removed
    result.held_removals += len(held)
    return status, reason


def _insert_file_row(conn: sa.Connection, organization: str, scrape: ScrapeFile, parsed: ParsedScrape,
                     status: str, reason: str | None, removed: int, held: list[str], run_id: str | None,
                     now: datetime) -> None:
    # bound parameters of one prebuilt INSERT (.values(...) made SQLAlchemy build and key a
    # new statement per file: a third of a small organization's ingest)
    conn.execute(_SCRAPE_FILE_INSERT, dict(
        organization=organization, sha256=scrape.sha256, path=str(scrape.path),
        size=scrape.size if scrape.mtime_ns else None, mtime_ns=scrape.mtime_ns or None,
        scrape_id=column_text(parsed.header.scrape_id or scrape.path.stem),
        full_scrape=parsed.header.full, scraped_at=to_naive_utc(parsed.header.scraped_at),
        lines=parsed.lines, accepted=len(parsed.accepted), rejected=len(parsed.rejections),
        cut=sum(1 for a in parsed.accepted if a.cut_reason), removed=removed, status=status,
        reason=reason, held_removals=held or None, run_id=run_id, processed_at=now,
    ))


_SCRAPE_FILE_INSERT = sa.insert(scrape_files)


def _count(result: RawResult, scrape: ScrapeFile, parsed: ParsedScrape, status: str, reason: str | None) -> None:
    result.files.append(scrape.path.name)
    result.lines += parsed.lines
    result.accepted += len(parsed.accepted)
    result.rejected += len(parsed.rejections)
    result.cut += sum(1 for a in parsed.accepted if a.cut_reason)
    for r in parsed.rejections:
        result.rejections_by_field[r.field] += 1
        if len(result.rejection_reasons) < 20:
            result.rejection_reasons.append(r.reason)
    if status == QUARANTINED:
        result.quarantined.append(f"{file_label(scrape.path)}: {reason}")
    elif status == HELD:
        result.held.append(f"{file_label(scrape.path)}: {reason}")


def _apply_one_by_one(engine: sa.Engine, organization: str, scrape: ScrapeFile, parsed: ParsedScrape,
                      rows: list[dict[str, Any]], result: RawResult, run_id: str | None,
                      error: Exception) -> tuple[str, str]:
    """The database refused something of the file: store its listings one per transaction,
    turn each refused one into a rejection, and quarantine the file (it removes nothing)."""
    now = utcnow()
    kept: list[AcceptedLine] = []
    for line, row in zip(parsed.accepted, rows):
        try:
            with engine.begin() as conn:
                first = conn.execute(sa.select(raw_records.c.first_seen_at).where(
                    raw_records.c.organization == organization,
                    raw_records.c.external_id == row["external_id"])).scalar()
                upsert(conn, raw_records, [{**row, "first_seen_at": first or row["first_seen_at"]}])
            kept.append(line)
            result.updated += 1
        except _TRANSIENT_ERRORS:
            raise
        except _DATA_ERRORS as exc:
            message = f"the database refused the listing ({type(exc.__cause__ or exc).__name__}: " \
                      f"{bounded(str(exc.__cause__ or exc).splitlines()[0] if str(exc) else '', 200)})"
            parsed.rejections.append(Rejection(
                line.line_no, column_text(line.record.external_id),
                raw_copy(json.dumps(row["payload"], ensure_ascii=True).encode("ascii")),
                f"{file_label(scrape.path)} line {line.line_no}, external_id "
                f"'{bounded(line.record.external_id)}': {message}"[:MAX_REASON_CHARS], "database"))
    parsed.accepted = kept
    first_error = bounded(str(error).splitlines()[0] if str(error) else type(error).__name__, 300)
    reason = f"the database refused part of the file ({first_error}); listings were stored one by one"
    with engine.begin() as conn:
        sync_rows(conn, rejected_records, [_rejected_row(organization, scrape, r, now) for r in parsed.rejections])
        _insert_file_row(conn, organization, scrape, parsed, QUARANTINED, reason, 0, [], run_id, now)
    _count(result, scrape, parsed, QUARANTINED, reason)
    return QUARANTINED, reason


# ---------------------------------------------------------------------------------------
# Held removals
# ---------------------------------------------------------------------------------------


class ConfirmError(ValueError):
    """A held removal that cannot be confirmed (none held, ambiguous, superseded)."""


def confirm_held_removals(engine: sa.Engine, organization: str, sha256_prefix: str | None = None) -> int:
    """Apply the removals a held full scrape of ``organization`` would have made.

    ``sha256_prefix`` picks the held file (any unique prefix of its sha256); without it the
    organization must have exactly one held file. Only the organization's most recently
    processed file can be confirmed: once a later file was processed, the next full scrape
    decides again. Returns how many
    listings were marked removed (at the file's ``scraped_at``, else now).

    Raises:
        ConfirmError: no such held file, more than one, or a later file was processed.
    """
    with engine.begin() as conn:
        query = sa.select(scrape_files).where(scrape_files.c.organization == organization,
                                              scrape_files.c.status == HELD)
        held = [dict(r) for r in conn.execute(query).mappings()
                if not sha256_prefix or r["sha256"].startswith(sha256_prefix)]
        if len(held) != 1:
            raise ConfirmError(f"organization {organization!r}: {len(held)} held scrape files match"
                               + (f" {sha256_prefix!r}" if sha256_prefix else "") + " (need exactly one)")
        row = held[0]
        later = conn.execute(sa.select(scrape_files.c.path).where(
            scrape_files.c.organization == organization,
            scrape_files.c.processed_at > row["processed_at"])).scalars().first()
        if later:
            raise ConfirmError(f"held file {Path(row['path']).name} was superseded by {Path(later).name}: "
                               "the next full scrape decides again")
        when = row["scraped_at"] or utcnow()
        removed = _mark_removed(conn, organization, list(row["held_removals"] or []), when)
        conn.execute(sa.update(scrape_files).where(
            scrape_files.c.organization == organization, scrape_files.c.sha256 == row["sha256"]).values(
            status=APPLIED, removed=removed, confirmed_at=utcnow(),
            reason=f"{row['reason']}; confirmed by an operator: {removed} marked removed"[:MAX_REASON_CHARS]))
    return removed


def scrape_file_outcomes(engine: sa.Engine, organization: str, run_id: str) -> list[dict[str, Any]]:
    """The scrape files of ``organization`` that run ``run_id`` processed, oldest first:
    ``file`` (name), ``sha256``, ``status``, ``reason``, ``accepted``, ``rejected``."""
    return scrape_file_outcomes_many(engine, [organization], run_id)[organization]


def scrape_file_outcomes_many(engine: sa.Engine, organizations: Sequence[str], run_id: str
                              ) -> dict[str, list[dict[str, Any]]]:
    """:func:`scrape_file_outcomes` of each of ``organizations`` (organization -> files), read
    with one query per 500 organizations."""
    c = scrape_files.c
    with engine.connect() as conn:
        grouped = rows_by_organization(
            conn, sa.select(c.organization, c.path, c.sha256, c.status, c.reason, c.accepted, c.rejected)
            .where(c.run_id == run_id).order_by(c.processed_at), c.organization, organizations)
    return {org: [{"file": Path(r["path"]).name, **{k: r[k] for k in ("sha256", "status", "reason", "accepted",
                                                                       "rejected")}} for r in rows]
            for org, rows in grouped.items()}


def rejection_counts(result: RawResult) -> dict[str, int]:
    """Rejections grouped by the field they name (for materialization metadata)."""
    return dict(result.rejections_by_field.most_common())
