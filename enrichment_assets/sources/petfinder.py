"""Import the PetFinder.my (Kaggle "PetFinder.my Adoption Prediction") listings as scrapes.

The source is ``train.csv`` plus three optional label tables (``breed_labels.csv``,
``color_labels.csv``, ``state_labels.csv``) as described in ``shared/data/petfinder/SOURCE.md``.
Every code used below comes from the competition's documentation quoted there:

- ``Type`` 1=dog, 2=cat
- ``Age`` in months
- ``Gender`` 1=male, 2=female, 3=mixed (the listing is a group of pets)
- ``MaturitySize`` 1=small, 2=medium, 3=large, 4=extra large, 0=not specified
- ``FurLength`` 1=short, 2=medium, 3=long, 0=not specified
- ``Vaccinated``/``Dewormed``/``Sterilized`` 1=yes, 2=no, 3=not sure
- ``Health`` 1=healthy, 2=minor injury, 3=serious injury, 0=not specified
- ``Breed1``/``Breed2``, ``Color1..3``: ids into the label tables, 0 = none
- ``Fee`` in MYR, 0 = free
- ``RescuerID``: hashed id of whoever posted the listing (one organization each here)

"Not specified" and "not sure" leave the field unset: missing stays missing. The data is
internal test data (see SOURCE.md): it is read from ``shared/data`` and never copied into
this repository.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ftfy
import pandas as pd
from pydantic import ValidationError

from enrichment_assets.domain.contract import (
    InvalidOrganizationKey,
    ScrapeRecord,
    validate_organization_key,
)
from enrichment_assets.sources.landing import write_scrape_file

SOURCE = "petfinder.my"
DEFAULT_SCRAPE_ID = "petfinder-train"
CURRENCY = "MYR"
ORG_PREFIX = "petfinder-"
RESCUER_PREFIX_LEN = 12

REQUIRED_COLUMNS = (
    "Type", "Name", "Age", "Breed1", "Breed2", "Gender", "Color1", "Color2", "Color3",
    "MaturitySize", "FurLength", "Vaccinated", "Dewormed", "Sterilized", "Health",
    "Quantity", "Fee", "State", "RescuerID", "Description", "PetID",
)

_SPECIES = {"1": "dog", "2": "cat"}
_SEX = {"1": "male", "2": "female", "3": "group"}
_SIZE: dict[str, str | None] = {"0": None, "1": "small", "2": "medium", "3": "large", "4": "extra large"}
_FUR: dict[str, str | None] = {"0": None, "1": "short", "2": "medium", "3": "long"}
_YES_NO_UNSURE: dict[str, bool | None] = {"1": True, "2": False, "3": None}
_HEALTH: dict[str, str | None] = {"0": None, "1": "healthy", "2": "minor injury", "3": "serious injury"}


@dataclass(frozen=True)
class PetfinderLabels:
    """The three label tables as id -> name (ids are the integers used in ``train.csv``)."""

    breeds: dict[int, str]
    colors: dict[int, str]
    states: dict[int, str]


def _read_label_table(path: Path, id_column: str, name_column: str) -> dict[int, str]:
    if not path.is_file():
        raise FileNotFoundError(f"label table {path} not found")
    # pandas copes with the quirks listed in SOURCE.md: CRLF endings (state_labels),
    # no final newline (color_labels) and quoted names.
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in (id_column, name_column) if c not in table.columns]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)}")
    labels: dict[int, str] = {}
    for line, (raw_id, raw_name) in enumerate(zip(table[id_column], table[name_column]), start=2):
        raw_id = "" if pd.isna(raw_id) else str(raw_id).strip()
        name = "" if pd.isna(raw_name) else str(raw_name).strip()
        try:
            label_id = int(raw_id)
        except ValueError:
            raise ValueError(f"{path.name} line {line}: {id_column} {raw_id!r} is not an integer") from None
        if not name:
            raise ValueError(f"{path.name} line {line}: {name_column} is empty for id {label_id}")
        if label_id in labels:
            raise ValueError(f"{path.name} line {line}: {id_column} {label_id} appears twice")
        labels[label_id] = name
    return labels


def load_petfinder_labels(labels_dir: Path) -> PetfinderLabels:
    """Read ``breed_labels.csv``, ``color_labels.csv`` and ``state_labels.csv`` from ``labels_dir``.

    Returns id -> name maps (columns BreedID/BreedName, ColorID/ColorName, StateID/StateName).

    Raises:
        FileNotFoundError: when one of the three files is missing.
        ValueError: naming the file and line when an id is not an integer, a name is empty
            or an id appears twice.
    """
    labels_dir = Path(labels_dir)
    return PetfinderLabels(
        breeds=_read_label_table(labels_dir / "breed_labels.csv", "BreedID", "BreedName"),
        colors=_read_label_table(labels_dir / "color_labels.csv", "ColorID", "ColorName"),
        states=_read_label_table(labels_dir / "state_labels.csv", "StateID", "StateName"),
    )


def petfinder_organization_key(rescuer_id: str) -> str:
    """``petfinder-<first 12 characters of RescuerID, lower-cased>``.

    Raises:
        InvalidOrganizationKey: when the result is not a valid organization key (for example
            a RescuerID with characters other than letters and digits).
    """
    key = ORG_PREFIX + rescuer_id[:RESCUER_PREFIX_LEN].lower()
    try:
        return validate_organization_key(key)
    except InvalidOrganizationKey as exc:
        raise InvalidOrganizationKey(f"RescuerID {rescuer_id!r}: {exc}") from None


def _cell(row: dict[str, Any], column: str) -> str:
    """The stripped text of a cell; '' when empty or NaN (short rows become NaN in pandas 3)."""
    value = row.get(column)
    if value is None or pd.isna(value):
        return ""
    return str(value).strip()


def _free_text(row: dict[str, Any], column: str) -> str:
    """Name/Description text. The Kaggle export wrote a missing text as the literal ``nan``
    (15 descriptions in train.csv): that is read as empty, since it is no one's text."""
    text = _cell(row, column)
    return "" if text == "nan" else text


def _code(pet_id: str, row: dict[str, Any], column: str, mapping: dict[str, Any]) -> Any:
    raw = _cell(row, column)
    if raw == "":
        return None
    if raw not in mapping:
        allowed = ", ".join(sorted(mapping))
        raise ValueError(f"PetID {pet_id}: {column} {raw!r} is not a known code (one of {allowed})")
    return mapping[raw]


def _int(pet_id: str, row: dict[str, Any], column: str, *, minimum: int = 0) -> int | None:
    raw = _cell(row, column)
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"PetID {pet_id}: {column} {raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"PetID {pet_id}: {column} {value} is below {minimum}")
    return value


def _fee(pet_id: str, row: dict[str, Any]) -> float | None:
    raw = _cell(row, "Fee")
    if raw == "":
        return None
    try:
        fee = float(raw)
    except ValueError:
        raise ValueError(f"PetID {pet_id}: Fee {raw!r} is not a number") from None
    if not math.isfinite(fee) or fee < 0:
        raise ValueError(f"PetID {pet_id}: Fee {raw!r} is not a finite amount >= 0")
    return fee


def _label(pet_id: str, column: str, label_id: int, table: dict[int, str], file_name: str) -> str:
    try:
        return table[label_id]
    except KeyError:
        raise ValueError(f"PetID {pet_id}: {column} {label_id} is not in {file_name}") from None


def _record(row: dict[str, Any], labels: PetfinderLabels | None) -> dict[str, Any]:
    """One scrape-record dict for one CSV row; keys whose value is unknown are left out."""
    pet_id = _cell(row, "PetID")
    rescuer_id = _cell(row, "RescuerID")
    record: dict[str, Any] = {
        "external_id": pet_id,
        # About 150 names are UTF-8 decoded as Latin-1 (SOURCE.md). Only the encoding is
        # repaired: quotes and full-width characters stay as the rescuer typed them.
        "name": ftfy.fix_text(_free_text(row, "Name"), uncurl_quotes=False, fix_character_width=False),
        "description": _free_text(row, "Description"),
        "species": _code(pet_id, row, "Type", _SPECIES),
        "sex": _code(pet_id, row, "Gender", _SEX),
        "size": _code(pet_id, row, "MaturitySize", _SIZE),
        "neutered": _code(pet_id, row, "Sterilized", _YES_NO_UNSURE),
        "vaccinated": _code(pet_id, row, "Vaccinated", _YES_NO_UNSURE),
        "dewormed": _code(pet_id, row, "Dewormed", _YES_NO_UNSURE),
        "fur_length": _code(pet_id, row, "FurLength", _FUR),
        "health": _code(pet_id, row, "Health", _HEALTH),
        "quantity": _int(pet_id, row, "Quantity"),
        "rescuer_id": rescuer_id,
    }
    age = _int(pet_id, row, "Age")
    record["age_text"] = None if age is None else f"{age} months"
    fee = _fee(pet_id, row)
    record["fee"] = fee
    record["currency"] = CURRENCY if fee is not None else None

    # Breed: Breed1 plus Breed2 when Breed2 is set (0 = none) and differs. Five rows have
    # Breed1 0 with a Breed2: then Breed2 alone names the breed.
    breed_ids: list[int] = []
    for column in ("Breed1", "Breed2"):
        breed_id = _int(pet_id, row, column)
        if breed_id and breed_id not in breed_ids:
            breed_ids.append(breed_id)
    color_ids = [c for c in (_int(pet_id, row, f"Color{i}") for i in (1, 2, 3)) if c]
    state_id = _int(pet_id, row, "State")

    if labels is not None:
        names = [_label(pet_id, "Breed", b, labels.breeds, "breed_labels.csv") for b in breed_ids]
        record["breed"] = " / ".join(names) or None
        colors = [_label(pet_id, "Color", c, labels.colors, "color_labels.csv") for c in color_ids]
        record["color"] = ", ".join(dict.fromkeys(colors)) or None
        record["location"] = (
            None if state_id is None else _label(pet_id, "State", state_id, labels.states, "state_labels.csv")
        )
    else:
        record["breed1_id"] = _int(pet_id, row, "Breed1") or None
        record["breed2_id"] = _int(pet_id, row, "Breed2") or None
        record["color_ids"] = color_ids or None
        record["state_id"] = state_id

    # Contract fields first, extra keys after, each only when known.
    order = [*ScrapeRecord.model_fields, *sorted(record)]
    clean = {key: record[key] for key in dict.fromkeys(order) if record.get(key) is not None}
    try:
        ScrapeRecord.model_validate(clean)
    except ValidationError as exc:
        raise ValueError(f"PetID {pet_id}: record breaks the scrape contract: {exc}") from None
    return clean


def read_petfinder(
    train_csv: Path, labels_dir: Path | None = None, min_listings: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Read ``train.csv`` into scrape records grouped by organization.

    Shape: ``{organization key: [record, ...]}``, keys sorted, records in file order. One
    organization per ``RescuerID``, keyed ``petfinder-<first 12 characters of RescuerID>``.
    Dogs and cats are both imported (``species`` "dog"/"cat" from ``Type``); the profile
    stage decides what to do with cats.

    Each record has the :class:`ScrapeRecord` fields ``external_id`` (PetID), ``name``
    (mojibake repaired with ftfy; empty names stay ""), ``description`` (the literal
    ``nan`` the Kaggle export wrote for a missing text becomes ""), ``species``,
    ``age_text`` ("<Age> months"), ``sex`` (male/female/group), ``size``
    (small/medium/large/extra large), ``neutered`` (Sterilized), ``vaccinated``, ``fee``
    (float) with ``currency`` "MYR", and with ``labels_dir`` also ``breed`` (e.g.
    "Labrador Retriever / Mixed Breed") and ``location`` (state name). Extra keys:
    ``rescuer_id``, ``quantity`` (int, pets in the listing), ``fur_length``
    (short/medium/long), ``dewormed`` (bool), ``health`` (healthy/minor injury/serious
    injury), and ``color`` ("Black, White") with labels, or ``breed1_id``, ``breed2_id``,
    ``color_ids`` (list of int) and ``state_id`` without. Codes meaning "not specified" or
    "not sure" leave their key out: no record holds ``None`` or NaN, and no default is
    invented. Every record validates as :class:`ScrapeRecord`.

    Args:
        train_csv: path of ``train.csv``.
        labels_dir: folder holding the three label tables, or ``None`` to keep raw ids.
        min_listings: keep only rescuers with at least this many listings of any species.

    Raises:
        FileNotFoundError: when ``train_csv`` or a label table is missing.
        ValueError: when ``min_listings`` < 1, a required column is missing, a PetID is
            empty or repeated, or a cell holds an unknown code or a non-number, naming the
            PetID and the column (e.g. "PetID 86e1089a3: Fee 'abc' is not a number"); also
            when two RescuerIDs share the same key prefix, naming both. Collisions are
            checked over every rescuer of the file, so a key never depends on
            ``min_listings``.
        InvalidOrganizationKey: when a RescuerID does not give a valid key.
    """
    if min_listings < 1:
        raise ValueError(f"min_listings {min_listings}: must be at least 1")
    train_csv = Path(train_csv)
    if not train_csv.is_file():
        raise FileNotFoundError(f"{train_csv} not found")
    labels = load_petfinder_labels(Path(labels_dir)) if labels_dir is not None else None

    frame = pd.read_csv(train_csv, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{train_csv.name}: missing column(s) {', '.join(missing)}")
    rows = frame.to_dict("records")

    keys: dict[str, str] = {}  # organization key -> RescuerID
    counts: Counter[str] = Counter()
    seen_pets: set[str] = set()
    for line, row in enumerate(rows, start=2):
        pet_id = _cell(row, "PetID")
        if not pet_id:
            raise ValueError(f"{train_csv.name} line {line}: PetID is empty")
        if pet_id in seen_pets:
            raise ValueError(f"PetID {pet_id}: appears more than once")
        seen_pets.add(pet_id)
        rescuer_id = _cell(row, "RescuerID")
        if not rescuer_id:
            raise ValueError(f"PetID {pet_id}: RescuerID is empty")
        counts[rescuer_id] += 1
        if counts[rescuer_id] == 1:
            key = petfinder_organization_key(rescuer_id)
            other = keys.get(key)
            if other is not None:
                raise ValueError(
                    f"RescuerIDs {other!r} and {rescuer_id!r} both give organization key {key!r}"
                )
            keys[key] = rescuer_id

    kept = {key: rid for key, rid in keys.items() if counts[rid] >= min_listings}
    by_rescuer: dict[str, list[dict[str, Any]]] = {rid: [] for rid in kept.values()}
    for row in rows:
        bucket = by_rescuer.get(_cell(row, "RescuerID"))
        if bucket is not None:
            bucket.append(_record(row, labels))
    return {key: by_rescuer[kept[key]] for key in sorted(kept)}


def import_petfinder(
    train_csv: Path,
    landing: Path,
    labels_dir: Path | None = None,
    min_listings: int = 1,
    scrape_id: str | None = None,
) -> dict[str, Path]:
    """Write one full scrape file per organization of :func:`read_petfinder` into ``landing``.

    Files land at ``<landing>/<organization>/<scrape_id>.jsonl`` (``scrape_id`` defaults to
    "petfinder-train") with header ``source`` "petfinder.my" and ``full`` true; the data
    carries no scrape time, so ``scraped_at`` is left out. Returns organization -> path.

    Raises:
        Everything :func:`read_petfinder` raises, and ``ValueError`` from
        :func:`write_scrape_file` for a scrape id that is not a plain file name.
    """
    scrape_id = scrape_id or DEFAULT_SCRAPE_ID
    organizations = read_petfinder(train_csv, labels_dir=labels_dir, min_listings=min_listings)
    return {
        org: write_scrape_file(Path(landing), org, scrape_id, records, full=True, source=SOURCE)
        for org, records in organizations.items()
    }
