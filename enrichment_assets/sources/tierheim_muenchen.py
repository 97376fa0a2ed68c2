"""Import the Tierheim München crawl (SQLite ``dog_crawler.db``, table ``dogs``) as one scrape.

Source and field meanings: ``shared/data/tierheim_muenchen/SOURCE.md``. The crawler stores
"unknown" as sentinels rather than NULL: ``born_at`` (and ``fetched_at``) ``0001-01-01``,
``weight``/``height`` 0, ``breed``/``color`` ''. Those leave the field unset. The texts are
German and the neuter status appears only in them; reading it from the text is the job of
normalization and the model, not of this importer. The data is internal test data: it is
read from ``shared/data`` and never copied into this repository.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from enrichment_assets.domain.contract import ScrapeRecord
from enrichment_assets.sources.landing import write_scrape_file

ORGANIZATION = "tierheim-muenchen"
SOURCE = "tierheim-muenchen.de"
DEFAULT_SCRAPE_ID = "tierheim-muenchen-crawl"
LOCATION = "München"
_UNKNOWN_YEAR = 1  # the crawler writes 0001-01-01 for "unknown"

_COLUMNS = (
    "shelter_identifier", "name", "breed", "color", "is_male", "description",
    "born_at", "weight", "height", "fetched_at",
)


def _connect_read_only(db_path: Path) -> sqlite3.Connection:
    db_path = Path(db_path).resolve()
    if not db_path.is_file():
        raise FileNotFoundError(f"{db_path} not found")
    return sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _timestamp(animal: str, column: str, value: Any) -> datetime | None:
    raw = _text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"shelter_identifier {animal}: {column} {raw!r} is not a timestamp") from None
    return None if parsed.year == _UNKNOWN_YEAR else parsed


def _measure(animal: str, column: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"shelter_identifier {animal}: {column} {value!r} is not a number") from None
    if number < 0:
        raise ValueError(f"shelter_identifier {animal}: {column} {value!r} is negative")
    return None if number == 0 else number


def _record(row: sqlite3.Row) -> dict[str, Any]:
    animal = _text(row["shelter_identifier"])
    if not animal:
        raise ValueError(f"row with name {row['name']!r}: shelter_identifier is empty")
    is_male = row["is_male"]
    if is_male is None or is_male == "":
        sex = None
    elif str(is_male) in ("1", "0"):
        sex = "male" if str(is_male) == "1" else "female"
    else:
        raise ValueError(f"shelter_identifier {animal}: is_male {is_male!r} is neither 1 nor 0")
    born = _timestamp(animal, "born_at", row["born_at"])
    fetched = _timestamp(animal, "fetched_at", row["fetched_at"])
    record: dict[str, Any] = {
        "external_id": animal,
        "name": _text(row["name"]),  # upper case in the source ("AMY"); kept as given
        "description": _text(row["description"]),  # '' stays '': the profile stage skips it
        "species": "dog",
        "breed": _text(row["breed"]) or None,
        "birth_date": born.date().isoformat() if born else None,
        "sex": sex,
        "weight_kg": _measure(animal, "weight", row["weight"]),
        "height_cm": _measure(animal, "height", row["height"]),
        "location": LOCATION,
        "color": _text(row["color"]) or None,
        "fetched_at": fetched.isoformat() if fetched else None,
    }
    clean = {key: value for key, value in record.items() if value is not None}
    try:
        ScrapeRecord.model_validate(clean)
    except ValidationError as exc:
        raise ValueError(f"shelter_identifier {animal}: record breaks the scrape contract: {exc}") from None
    return clean


def read_tierheim_muenchen(db_path: Path) -> list[dict[str, Any]]:
    """Read every row of table ``dogs`` as a scrape-record dict, ordered by shelter number.

    The database is opened read-only (``file:...?mode=ro``). Organization: "tierheim-muenchen".
    Mapping: ``external_id`` = shelter_identifier; ``name`` as given (upper case);
    ``description`` as given ('' stays ''); ``species`` "dog"; ``breed`` (German, unset
    when ''); ``sex`` from is_male (1 "male", 0 "female"); ``birth_date`` = date part of
    born_at, unset for the 0001-01-01 sentinel; ``weight_kg`` (kg) and ``height_cm``
    (shoulder height, cm) unset when 0; ``location`` "München"; ``url`` unset (the crawl has
    none). Extra keys: ``color`` (German, unset when '') and ``fetched_at`` (ISO 8601 with
    offset, unset for the sentinel). Neutered is not parsed from the text. Every record
    validates as :class:`ScrapeRecord`.

    Raises:
        FileNotFoundError: when ``db_path`` does not exist.
        ValueError: when table ``dogs`` or one of its columns is missing, or a row holds an
            empty shelter_identifier, an is_male other than 0/1, a malformed born_at or
            fetched_at, or a negative or non-numeric weight/height; naming the
            shelter_identifier and the column.
    """
    with _connect_read_only(db_path) as connection:
        connection.row_factory = sqlite3.Row
        columns = {row[1] for row in connection.execute("PRAGMA table_info(dogs)")}
        if not columns:
            raise ValueError(f"{db_path}: table 'dogs' not found")
        missing = [c for c in _COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{db_path}: table 'dogs' lacks column(s) {', '.join(missing)}")
        rows = connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM dogs ORDER BY shelter_identifier"
        ).fetchall()
    connection.close()
    return [_record(row) for row in rows]


def import_tierheim_muenchen(db_path: Path, landing: Path, scrape_id: str | None = None) -> Path:
    """Write the whole crawl as one full scrape to ``<landing>/tierheim-muenchen/<scrape_id>.jsonl``.

    ``scrape_id`` defaults to "tierheim-muenchen-crawl"; the header has ``source``
    "tierheim-muenchen.de", ``full`` true and ``scraped_at`` = the latest ``fetched_at`` of
    the crawl (left out when no row has one). Returns the file's path.

    Raises:
        Everything :func:`read_tierheim_muenchen` raises, and ``ValueError`` from
        :func:`write_scrape_file` for a scrape id that is not a plain file name.
    """
    records = read_tierheim_muenchen(db_path)
    fetched = [datetime.fromisoformat(r["fetched_at"]) for r in records if "fetched_at" in r]
    return write_scrape_file(
        Path(landing),
        ORGANIZATION,
        scrape_id or DEFAULT_SCRAPE_ID,
        records,
        full=True,
        scraped_at=max(fetched) if fetched else None,
        source=SOURCE,
    )


__all__ = ["read_tierheim_muenchen", "import_tierheim_muenchen", "ORGANIZATION"]
