"""Writing, finding and safely opening scrape files in the landing folder.

Layout: ``<landing>/<organization>/<scrape_id>.jsonl``; see
:mod:`enrichment_assets.domain.contract` for the line format and the optional header.

Only regular files inside the landing folder are read. :func:`scan_landing` reports every
entry it will not read, by name and with the reason: organization folders whose name is
not a valid key (dot-folders included), ``*.jsonl`` entries that are directories, FIFOs,
sockets or devices, symbolic links that lead out of the landing folder (or nowhere), and
``*.jsonl`` files outside an organization folder. Hidden files inside an organization
folder (``.tmp-*``: a write in progress) and files not named ``*.jsonl`` are ignored
silently. :func:`open_scrape_file` never blocks: it opens non-blocking and checks with
``fstat`` that what it opened is the regular file the scan saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from enrichment_assets.domain.contract import (
    HEADER_KEY, InvalidOrganizationKey, bounded, validate_organization_key,
)

SCRAPE_SUFFIX = ".jsonl"


class LandingEntryError(OSError):
    """A landing entry that is not (or no longer) a regular file inside the landing folder."""


@dataclass(frozen=True)
class ScrapeFile:
    """A scrape file found in the landing folder. ``sha256`` is of the file's bytes.

    ``device``/``inode`` identify the file the scan saw (0 when unknown), so that
    :func:`open_scrape_file` can refuse a file swapped in after the scan. ``size`` (bytes)
    and ``mtime_ns`` (modification time, ns since the epoch) are the scan's ``stat`` of it
    (0 when unknown). ``recorded``: the sha256 was taken from a ``scrape_files`` row whose
    path, size and mtime match (the file was not read), see :func:`scan_landing`.
    """

    organization: str
    path: Path
    sha256: str
    device: int = 0
    inode: int = 0
    size: int = 0
    mtime_ns: int = 0
    recorded: bool = False


@dataclass(frozen=True)
class RecordedFile:
    """What a ``scrape_files`` row says about a file it processed: ``size`` in bytes,
    ``mtime_ns`` (ns since the epoch) and the ``sha256`` of its bytes."""

    size: int
    mtime_ns: int
    sha256: str


#: ``(organization, str(path))`` -> what was recorded for the file at that path.
RecordedFiles = Mapping[tuple[str, str], RecordedFile]


@dataclass
class LandingScan:
    """What :func:`scan_landing` found.

    ``files``: readable scrape files, sorted by path. ``invalid_folders``: (folder name,
    reason) for sub-folders that cannot be organizations. ``skipped``: (entry, reason) for
    ``*.jsonl`` entries that are not read. Names are escaped and cut for display.
    """

    files: list[ScrapeFile] = field(default_factory=list)
    invalid_folders: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every ignored entry as one line of text (for the CLI, sensor and status)."""
        return ([f"folder '{name}': {reason}" for name, reason in self.invalid_folders]
                + [f"'{name}': {reason}" for name, reason in self.skipped])


def _inside(path: str, root: str) -> bool:
    return path != root and os.path.commonpath([path, root]) == root


def _entry_target(path: Path, root: str) -> tuple[os.stat_result | None, str | None]:
    """(stat of what ``path`` leads to, None) or (None, why it is not read)."""
    try:
        link = os.lstat(path)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(link.st_mode):
        real = os.path.realpath(path)
        if not _inside(real, root):
            return None, "symbolic link to a place outside the landing folder"
        try:
            target = os.stat(real)
        except OSError:
            return None, "symbolic link to nothing (dangling)"
        return target, None
    return link, None


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _has_unstorable_name(name: str) -> bool:
    return "\x00" in name or any("\ud800" <= ch <= "\udfff" for ch in name)


def scan_landing(landing: Path, organization: str | None = None,
                 recorded: RecordedFiles | None = None) -> LandingScan:
    """Scrape files under ``landing`` (one organization or all) and what is not read.

    Symbolic links are followed only when their target resolves inside ``landing``.
    Sub-folders of organization folders are not searched. Each file's sha256 is computed
    here (reading it once, through :func:`open_scrape_file`), except for a file that
    ``recorded`` (``(organization, str(path))`` -> :class:`RecordedFile`, from
    :func:`enrichment_assets.pipeline.raw.recorded_scrape_files`) lists with the same size
    and mtime (ns): that file is not opened and carries the recorded sha256
    (``recorded=True``). The entry checks (inside the landing folder, a regular file) run
    for every file either way. Trade-off (as make and rsync): bytes rewritten with the
    size and the mtime kept are not noticed.
    """
    recorded = recorded or {}
    scan = LandingScan()
    if not landing.exists():
        return scan
    root = os.path.realpath(landing)
    if organization is not None:
        folders = [Path(landing) / organization]
    else:
        folders = []
        for entry in sorted(Path(landing).iterdir(), key=lambda p: p.name):
            target, problem = _entry_target(entry, root)
            if target is None:
                if os.path.isdir(entry) or os.path.islink(entry):
                    scan.invalid_folders.append((bounded(entry.name, 80), problem or "not read"))
                elif entry.name.endswith(SCRAPE_SUFFIX):
                    scan.skipped.append((bounded(entry.name, 80), problem or "not read"))
                continue
            if not stat.S_ISDIR(target.st_mode):
                if entry.name.endswith(SCRAPE_SUFFIX):
                    scan.skipped.append((bounded(entry.name, 80), "a scrape file outside an organization "
                                         "folder (expected <landing>/<organization>/<scrape>.jsonl)"))
                continue
            try:
                validate_organization_key(entry.name)
            except InvalidOrganizationKey as exc:
                scan.invalid_folders.append((bounded(entry.name, 80), str(exc)))
                continue
            folders.append(entry)
    for folder in folders:
        target, problem = _entry_target(folder, root)
        if target is None or not stat.S_ISDIR(target.st_mode):
            if problem and os.path.lexists(folder):
                scan.invalid_folders.append((bounded(folder.name, 80), problem))
            continue
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            name = path.name
            if name.startswith(".") or not name.endswith(SCRAPE_SUFFIX):
                continue
            label = bounded(f"{folder.name}/{name}", 120)
            if _has_unstorable_name(name):
                scan.skipped.append((label, "file name is not valid UTF-8 text"))
                continue
            target, problem = _entry_target(path, root)
            if target is None:
                scan.skipped.append((label, problem or "not read"))
                continue
            if not stat.S_ISREG(target.st_mode):
                scan.skipped.append((label, f"is {_file_kind(target.st_mode)}, not a regular file"))
                continue
            known = recorded.get((folder.name, str(path)))
            if known is not None and (known.size, known.mtime_ns) == (target.st_size, target.st_mtime_ns):
                scan.files.append(ScrapeFile(organization=folder.name, path=path, sha256=known.sha256,
                                             device=target.st_dev, inode=target.st_ino, size=target.st_size,
                                             mtime_ns=target.st_mtime_ns, recorded=True))
                continue
            scrape = ScrapeFile(organization=folder.name, path=path, sha256="",
                                device=target.st_dev, inode=target.st_ino)
            try:
                with open_scrape_file(scrape) as handle:
                    digest = hashlib.sha256()
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            except OSError as exc:
                scan.skipped.append((label, f"cannot be read ({exc})"))
                continue
            scan.files.append(ScrapeFile(organization=folder.name, path=path, sha256=digest.hexdigest(),
                                         device=target.st_dev, inode=target.st_ino, size=target.st_size,
                                         mtime_ns=target.st_mtime_ns))
    return scan


def open_scrape_file(scrape: ScrapeFile | Path) -> IO[bytes]:
    """Open a scrape file for binary reading without ever blocking.

    Opens with ``O_NONBLOCK`` (a FIFO swapped in cannot hang the run), then checks with
    ``fstat`` that the descriptor is a regular file and, when ``scrape`` carries the scan's
    device/inode, that it is the same file.

    Raises:
        LandingEntryError: not a regular file, or not the file the scan saw.
        OSError: when the file cannot be opened.
    """
    path = scrape.path if isinstance(scrape, ScrapeFile) else Path(scrape)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LandingEntryError(f"'{bounded(path.name, 80)}' is {_file_kind(info.st_mode)}")
        if isinstance(scrape, ScrapeFile) and scrape.inode and (info.st_dev, info.st_ino) != (scrape.device, scrape.inode):
            raise LandingEntryError(f"'{bounded(path.name, 80)}' was replaced after the landing scan")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes (read through :func:`open_scrape_file`)."""
    digest = hashlib.sha256()
    with open_scrape_file(path) as handle:
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
    target = folder / f"{scrape_id}{SCRAPE_SUFFIX}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=SCRAPE_SUFFIX)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({HEADER_KEY: header}, ensure_ascii=False) + "\n")
        for record in records:
            clean = {k: v for k, v in record.items() if v is not None}
            handle.write(json.dumps(clean, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return target

