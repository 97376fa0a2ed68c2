"""The scrape contract: what a landing file and each of its lines may contain.

A scrape file is JSON Lines, UTF-8, at ``<landing>/<organization>/<scrape>.jsonl``. The
organization comes from the folder name. The first line may be a header object whose only
key is ``"__scrape__"``::

    {"__scrape__": {"scrape_id": "2026-11-21", "full": true, "scraped_at": "2026-11-21T08:00:00Z",
                    "source": "petfinder.my"}}

``full`` (default ``true``) says the file lists every current listing of the organization,
so a listing absent from it is marked removed (never deleted). Every other line is one
listing validated by :class:`ScrapeRecord`.

The limits below are the contract (documented in the README, "Scrape contract"); each is
checked before the line is parsed or stored, and each breach rejects the line with a
reason naming the file, the line and the field (:func:`check_line_bytes`,
:func:`decode_line`, :func:`loads_line`, :func:`find_unstorable`). The numbers are our
choice, with headroom over the real data (PetFinder.my and Tierheim München: longest line
7 KB, longest description 6,664 characters, nesting depth 2, no number over 10 digits).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

HEADER_KEY = "__scrape__"
ORGANIZATION_KEY_MAX_LEN = 64
_ORG_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")

#: Longest line in bytes (without its ``\n``); a longer line is rejected unread.
MAX_LINE_BYTES = 2 * 1024 * 1024
#: Deepest nesting of JSON arrays and objects in a line (the listing object is level 1).
MAX_DEPTH = 32
#: Longest number literal in characters (sign, digits, point and exponent).
MAX_NUMBER_CHARS = 30
#: Integers must lie within the signed 64-bit range.
MAX_ABS_INT = 2**63 - 1
#: ``description`` longer than this (characters) is cut to it; the cut is recorded.
MAX_DESCRIPTION_CHARS = 20_000
#: A text value of an extra key longer than this (characters) is cut to it; recorded.
MAX_EXTRA_TEXT_CHARS = 10_000
#: ``external_id`` and ``name`` at most (characters); longer is a rejection.
MAX_ID_CHARS = 200
#: ``url`` at most (characters); longer is a rejection.
MAX_URL_CHARS = 2_000
#: Every other declared text field at most (characters); longer is a rejection.
MAX_SHORT_TEXT_CHARS = 500
#: A file whose accepted listings are fewer than this share of its listing lines is
#: quarantined: it marks nothing removed.
MIN_ACCEPTED_SHARE = 0.5
#: A full scrape that would mark more than this share of the active listings removed ...
MAX_REMOVAL_SHARE = 0.5
#: ... and at least this many, is held for confirmation instead of applied.
MIN_HELD_REMOVALS = 5
#: Rejection reasons are cut to this many characters; ids and values inside them shorter.
MAX_REASON_CHARS = 1_000
#: The stored copy of a rejected line (``rejected_records.raw``) keeps this many characters.
MAX_RAW_CHARS = 20_000

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Header ``scraped_at`` must lie in [SCRAPED_AT_MIN, SCRAPED_AT_MAX) (UTC).
SCRAPED_AT_MIN = datetime(2000, 1, 1)
SCRAPED_AT_MAX = datetime(2100, 1, 1)

# Text the databases cannot hold: NUL (PostgreSQL text and JSONB refuse it) and lone
# surrogates (not encodable as UTF-8, refused by both drivers).
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
_ESCAPE_RE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\u2028\u2029]")
_STRUCTURE_RE = re.compile(r'[\\"\[\]{}]')


class InvalidOrganizationKey(ValueError):
    """An organization key that cannot name a partition and a landing folder."""


def bounded(value: Any, limit: int = 60) -> str:
    """``value`` as printable text of at most ``limit`` characters, for reasons and logs.

    Control characters, NUL, lone surrogates and line separators become ``\\xNN`` /
    ``\\uNNNN`` escapes (a reason never breaks a log line, and the databases can store
    it); longer text is cut and ends with ``…`` plus its full length.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} chars)"
    return _ESCAPE_RE.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100
                          else "\\u%04x" % ord(m.group()), text)


def validate_organization_key(key: str) -> str:
    """Return ``key`` if it is a valid organization key, else raise.

    Rules: 1..64 characters, lower-case ASCII letters, digits, ``-`` and ``_``, starting
    with a letter or digit (the whole key: a trailing newline or a leading dot is
    invalid). That excludes path separators, ``..``, hidden folders, spaces and upper case
    (two keys differing only in case would collide on case-insensitive file systems).

    Raises:
        InvalidOrganizationKey: naming the key (escaped, cut) and the rule it breaks.
    """
    if not isinstance(key, str) or not key:
        raise InvalidOrganizationKey(f"organization key {key!r}: must be a non-empty string")
    shown = f"'{bounded(key, 40)}'"
    if len(key) > ORGANIZATION_KEY_MAX_LEN:
        raise InvalidOrganizationKey(
            f"organization key {shown}: {len(key)} characters, at most {ORGANIZATION_KEY_MAX_LEN} allowed"
        )
    if "/" in key or "\\" in key:
        raise InvalidOrganizationKey(f"organization key {shown}: contains a path separator")
    if not _ORG_KEY_RE.fullmatch(key):
        raise InvalidOrganizationKey(
            f"organization key {shown}: only a-z, 0-9, '-' and '_' allowed, starting with a "
            "letter or digit"
        )
    return key


# ---------------------------------------------------------------------------------------
# Line checks before and during parsing
# ---------------------------------------------------------------------------------------


class LineRejected(ValueError):
    """A line breaks the contract. ``field`` names where (``"line"`` for the whole line)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field}: {message}" if field != "line" else message)
        self.field = field
        self.message = message


def check_line_bytes(size: int) -> None:
    """Raise :class:`LineRejected` when a line of ``size`` bytes is over :data:`MAX_LINE_BYTES`."""
    if size > MAX_LINE_BYTES:
        raise LineRejected("line", f"{size:,} bytes, more than the {MAX_LINE_BYTES:,} allowed (not read)")


def decode_line(data: bytes, file_offset: int = 0) -> str:
    """``data`` decoded as strict UTF-8 (never a silent replacement).

    Raises:
        LineRejected: at the first invalid byte, giving its offset in the line and in the
            file (``file_offset`` is where the line starts).
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineRejected("line", f"invalid UTF-8 at byte {exc.start} of the line "
                                   f"(byte {file_offset + exc.start} of the file)") from None


def nesting_depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays/objects deeper than ``limit``.

    Brackets inside strings do not count. Linear: lines with at most ``limit`` opening
    brackets are answered by counting, the others by one pass over the structural
    characters (stopping as soon as the limit is passed).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE_RE.finditer(text):
        pos = match.start()
        char = match.group()
        if in_string:
            if pos == escaped_at:
                continue
            if char == "\\":
                escaped_at = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class BadNumber:
    """A number literal outside the contract's range, kept in place of its value so the
    field holding it can be named (see :func:`find_unstorable`)."""

    __slots__ = ("literal", "problem")

    def __init__(self, literal: str, problem: str) -> None:
        self.literal = literal
        self.problem = problem


def _parse_int(literal: str) -> int | BadNumber:
    if len(literal) > MAX_NUMBER_CHARS:
        return BadNumber(literal, f"an integer of {len(literal):,} characters (at most {MAX_NUMBER_CHARS})")
    value = int(literal)
    if abs(value) > MAX_ABS_INT:
        return BadNumber(literal, "an integer outside the signed 64-bit range")
    return value


def _parse_float(literal: str) -> float | BadNumber:
    if len(literal) > MAX_NUMBER_CHARS:
        return BadNumber(literal, f"a number of {len(literal):,} characters (at most {MAX_NUMBER_CHARS})")
    value = float(literal)
    if not math.isfinite(value):
        return BadNumber(literal, "a number too large for a 64-bit float")
    return value


def _parse_constant(literal: str) -> BadNumber:
    return BadNumber(literal, "not a JSON number (NaN and Infinity are not allowed)")


def loads_line(text: str) -> Any:
    """Parse one line of JSON after the pre-parse checks of the contract.

    Nesting deeper than :data:`MAX_DEPTH` is rejected before parsing. Numbers are parsed
    by bounded hooks: a literal longer than :data:`MAX_NUMBER_CHARS`, an integer outside
    64 bits, a float that overflows (``1e400``) and ``NaN``/``Infinity`` become
    :class:`BadNumber` values, reported with their field by :func:`find_unstorable`.
    Control characters inside strings are accepted (JSON's strict rule is relaxed: a
    tab or a lone CR in a description is data); NUL is caught later.

    Raises:
        LineRejected: nesting too deep, or not JSON (with the parser's message).
    """
    if nesting_depth_exceeds(text):
        raise LineRejected("line", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, strict=False, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise LineRejected("line", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # pragma: no cover - the depth pre-scan stops this first
        raise LineRejected("line", f"JSON nested deeper than {MAX_DEPTH} levels") from None


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    name = bounded(key, 40)
    return f"{parent}.{name}" if parent else name


def find_unstorable(value: Any, path: str = "") -> LineRejected | None:
    """The first value of a parsed line that breaks the text or number rules, else None.

    Rejected: a key or string holding NUL (U+0000) or a lone surrogate (``"\\ud83d"``):
    neither SQLite nor PostgreSQL can store them as text, so the line is rejected (not
    cleaned), identically on both; a :class:`BadNumber`. The result names the field path
    (``weight_kg``, ``extra.tags[3]``).
    """
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            found = _UNSTORABLE_RE.search(item)
            if found:
                return LineRejected(where or "line", _unstorable_message(found.group()))
        elif isinstance(item, BadNumber):
            return LineRejected(where or "line", f"{bounded(item.literal, 30)} is {item.problem}")
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                found = _UNSTORABLE_RE.search(key)
                if found:
                    return LineRejected(_path(where, key), "the key " + _unstorable_message(found.group()))
                stack.append((_path(where, key), child))
        elif isinstance(item, list):
            stack.extend((_path(where, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def _unstorable_message(char: str) -> str:
    if char == "\x00":
        return "contains U+0000 (NUL), which the database cannot store"
    return f"contains a lone surrogate U+{ord(char):04X}, which is not valid Unicode text"


def cut_long_text(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with ``description`` cut to :data:`MAX_DESCRIPTION_CHARS` and every text
    value of an extra key (nested ones included) cut to :data:`MAX_EXTRA_TEXT_CHARS`.

    Returns the (new) dict and one note per cut, e.g. ``"field description cut from
    1,048,576 to 20,000 characters (scrape contract maximum)"``. Declared fields other
    than ``description`` are not cut: their limits are rejections (:class:`ScrapeRecord`).
    """
    notes: list[str] = []

    def cut(value: Any, limit: int, where: str) -> Any:
        if isinstance(value, str) and len(value) > limit:
            notes.append(f"field {where} cut from {len(value):,} to {limit:,} characters "
                         "(scrape contract maximum)")
            return value[:limit]
        if isinstance(value, dict):
            return {k: cut(v, limit, _path(where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [cut(v, limit, _path(where, i)) for i, v in enumerate(value)]
        return value

    out = {}
    for key, value in data.items():
        if key == "description":
            out[key] = cut(value, MAX_DESCRIPTION_CHARS, key)
        elif key in ScrapeRecord.model_fields:
            out[key] = value
        else:
            out[key] = cut(value, MAX_EXTRA_TEXT_CHARS, _path("", key))
    return out, notes


# ---------------------------------------------------------------------------------------
# Header and listing models
# ---------------------------------------------------------------------------------------


class ScrapeHeader(BaseModel):
    """Optional first line of a scrape file (under the key ``__scrape__``).

    Unknown keys are an error (a typo such as ``"ful"`` must not fall back to a full
    scrape). ``full`` must be a JSON boolean. ``scraped_at`` must be an ISO timestamp that
    converts to UTC within [2000-01-01, 2100-01-01) (``0001-01-01T00:00:00+14:00`` does
    not); without an offset it is taken as UTC.
    """

    model_config = ConfigDict(extra="forbid")

    scrape_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    full: StrictBool = True
    scraped_at: datetime | None = None
    source: str | None = Field(default=None, max_length=MAX_ID_CHARS)

    @field_validator("scraped_at")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        except (OverflowError, ValueError):
            raise ValueError("cannot be converted to UTC (out of range)") from None
        if not SCRAPED_AT_MIN <= utc < SCRAPED_AT_MAX:
            raise ValueError(f"{utc:%Y-%m-%d} UTC is outside [{SCRAPED_AT_MIN:%Y-%m-%d}, "
                             f"{SCRAPED_AT_MAX:%Y-%m-%d})")
        return value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class ScrapeRecord(BaseModel):
    """One listing as a scraper delivers it. Extra keys are kept as-is in the raw payload.

    Required: ``external_id`` (the organization's own id; ints are accepted and turned
    into strings), ``name``, ``description`` (may be short or empty text: the profile
    stage decides what is too little; it must be present; longer than
    :data:`MAX_DESCRIPTION_CHARS` it is cut before validation, see :func:`cut_long_text`).
    Everything else is optional and missing stays missing: no field has a default other
    than ``None``. Text limits: :data:`MAX_ID_CHARS`, :data:`MAX_URL_CHARS`,
    :data:`MAX_SHORT_TEXT_CHARS`.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    name: str = Field(max_length=MAX_ID_CHARS)
    description: str = Field(max_length=MAX_DESCRIPTION_CHARS)
    species: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)
    breed: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)
    age_text: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)
    birth_date: date | None = None
    sex: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)
    size: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)
    weight_kg: float | None = Field(default=None, gt=0, lt=150)
    height_cm: float | None = Field(default=None, gt=0, lt=150)
    neutered: bool | None = None
    vaccinated: bool | None = None
    fee: float | None = Field(default=None, ge=0, lt=1e9)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    url: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    location: str | None = Field(default=None, max_length=MAX_SHORT_TEXT_CHARS)

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
