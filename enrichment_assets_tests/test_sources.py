"""Tests of the source importers (PetFinder.my, Tierheim München, demo set). Plain pytest.

The real data sets live outside the repository (``../shared/data``) and are never copied
in; tests that need them skip when they are absent. Expected values are computed here from
the raw files with the standard library (csv, sqlite3), not with the code under test.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from enrichment_assets.domain.contract import HEADER_KEY, ScrapeHeader, ScrapeRecord, validate_organization_key
from enrichment_assets.sources.demo import demo_data_dir, import_demo
from enrichment_assets.sources.petfinder import import_petfinder, read_petfinder
from enrichment_assets.sources.tierheim_muenchen import import_tierheim_muenchen, read_tierheim_muenchen

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PETFINDER = SHARED_DATA / "petfinder"
TRAIN_CSV = PETFINDER / "train.csv"
TIERHEIM_DB = SHARED_DATA / "tierheim_muenchen" / "dog_crawler.db"

needs_petfinder = pytest.mark.skipif(
    not TRAIN_CSV.is_file(), reason=f"PetFinder data not found at {PETFINDER} (shared data, not in the repo)"
)
needs_tierheim = pytest.mark.skipif(
    not TIERHEIM_DB.is_file(), reason=f"Tierheim München db not found at {TIERHEIM_DB} (shared data, not in the repo)"
)



def _latin1_roundtrip(name: str) -> str | None:
    """The name as UTF-8, when it is UTF-8 that was decoded as Latin-1 (mojibake); else None."""
    try:
        repaired = name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return repaired if repaired != name else None


# ---------------------------------------------------------------- helpers


def _raw_rows() -> dict[str, dict[str, str]]:
    with TRAIN_CSV.open(encoding="utf-8", newline="") as handle:
        return {row["PetID"]: row for row in csv.DictReader(handle)}


def _labels(name: str, id_col: str, name_col: str) -> dict[str, str]:
    with (PETFINDER / name).open(encoding="utf-8", newline="") as handle:
        return {row[id_col]: row[name_col] for row in csv.DictReader(handle)}


def _bad_value(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().lower() == "nan":
        return True
    if isinstance(value, list):
        return any(_bad_value(v) for v in value)
    return False


def _read_scrape(path: Path) -> tuple[dict, list[dict]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert list(header) == [HEADER_KEY]
    return header[HEADER_KEY], [json.loads(line) for line in lines[1:]]


# ---------------------------------------------------------------- PetFinder, real data


@pytest.fixture(scope="module")
def petfinder_min50():
    if not TRAIN_CSV.is_file():
        pytest.skip(f"PetFinder data not found at {PETFINDER}")
    return read_petfinder(TRAIN_CSV, labels_dir=PETFINDER, min_listings=50)


@needs_petfinder
def test_petfinder_min50_counts(petfinder_min50):
    assert len(petfinder_min50) == 20
    assert sum(len(records) for records in petfinder_min50.values()) == 2532
    # Independently: rescuers with >= 50 listings of any species in the raw file.
    counts = Counter(row["RescuerID"] for row in _raw_rows().values())
    big = {rid for rid, n in counts.items() if n >= 50}
    assert {f"petfinder-{rid[:12]}" for rid in big} == set(petfinder_min50)
    for key, records in petfinder_min50.items():
        validate_organization_key(key)
        assert {r["rescuer_id"] for r in records} == {rid for rid in big if key.endswith(rid[:12])}
        assert len(records) == counts[records[0]["rescuer_id"]]


@needs_petfinder
def test_petfinder_records_are_clean_and_valid(petfinder_min50):
    records = [r for rs in petfinder_min50.values() for r in rs]
    species = Counter(r["species"] for r in records)
    assert species["dog"] > 0 and species["cat"] > 0
    assert set(species) == {"dog", "cat"}
    for record in records:
        bad = [k for k, v in record.items() if _bad_value(v)]
        assert not bad, f"{record['external_id']}: bad values in {bad}"
        ScrapeRecord.model_validate(record)
        assert record["currency"] == "MYR"


@needs_petfinder
def test_petfinder_mapping_matches_raw_rows(petfinder_min50):
    raw = _raw_rows()
    breeds = _labels("breed_labels.csv", "BreedID", "BreedName")
    states = _labels("state_labels.csv", "StateID", "StateName")
    colors = _labels("color_labels.csv", "ColorID", "ColorName")
    seen_two_breeds = seen_unsure = fixed_names = 0
    for record in (r for rs in petfinder_min50.values() for r in rs):
        row = raw[record["external_id"]]
        assert record["species"] == {"1": "dog", "2": "cat"}[row["Type"]]
        assert record["age_text"] == f"{int(row['Age'])} months"
        assert record["fee"] == float(row["Fee"])
        assert record["location"] == states[row["State"]]
        assert record["quantity"] == int(row["Quantity"])
        assert record["sex"] == {"1": "male", "2": "female", "3": "group"}[row["Gender"]]
        expected_colors = [colors[c] for c in (row["Color1"], row["Color2"], row["Color3"]) if c != "0"]
        assert record["color"].split(", ") == expected_colors
        b1, b2 = row["Breed1"], row["Breed2"]
        if b1 != "0" and b2 != "0" and b2 != b1:
            assert record["breed"] == f"{breeds[b1]} / {breeds[b2]}"
            seen_two_breeds += 1
        elif b1 != "0":
            assert record["breed"] == breeds[b1]
        # Sterilized: 1 yes, 2 no, 3 not sure -> unset.
        if row["Sterilized"] == "3":
            assert "neutered" not in record
            seen_unsure += 1
        else:
            assert record["neutered"] is (row["Sterilized"] == "1")
        if row["MaturitySize"] == "0":
            assert "size" not in record
        repaired = _latin1_roundtrip(row["Name"])
        if repaired is not None:
            assert record["name"] == repaired.strip()
            fixed_names += 1
        elif row["Name"] == "":
            assert record["name"] == ""
    assert seen_two_breeds > 0 and seen_unsure > 0
    assert fixed_names >= 1


@needs_petfinder
def test_petfinder_mojibake_name_repaired_to_cjk():
    organizations = read_petfinder(TRAIN_CSV, min_listings=1)
    raw = _raw_rows()
    repaired = [
        r["name"] for rs in organizations.values() for r in rs
        if "å°\x8f" in raw[r["external_id"]]["Name"]  # UTF-8 bytes of 小 read as Latin-1
    ]
    assert repaired and all("小" in name for name in repaired)


@needs_petfinder
def test_petfinder_without_labels_keeps_ids():
    organizations = read_petfinder(TRAIN_CSV, min_listings=50)
    raw = _raw_rows()
    records = [r for rs in organizations.values() for r in rs]
    assert sum(map(len, organizations.values())) == 2532
    for record in records:
        row = raw[record["external_id"]]
        assert "breed" not in record and "color" not in record and "location" not in record
        assert record["state_id"] == int(row["State"])
        assert record.get("breed1_id") == (int(row["Breed1"]) or None)
        assert record.get("breed2_id") == (int(row["Breed2"]) or None)
        assert not any(_bad_value(v) for v in record.values())
        ScrapeRecord.model_validate(record)


@needs_petfinder
def test_import_petfinder_writes_readable_files(tmp_path):
    paths = import_petfinder(TRAIN_CSV, tmp_path, labels_dir=PETFINDER, min_listings=50)
    assert len(paths) == 20
    total = 0
    for org, path in paths.items():
        assert path == tmp_path / org / "petfinder-train.jsonl"
        header, records = _read_scrape(path)
        parsed = ScrapeHeader.model_validate(header)
        assert parsed.full is True and parsed.source == "petfinder.my" and parsed.scrape_id == "petfinder-train"
        for record in records:
            ScrapeRecord.model_validate(record)
        total += len(records)
    assert total == 2532
    assert not [p for p in tmp_path.rglob(".tmp-*")]


# ---------------------------------------------------------------- PetFinder, tiny CSV


_COLUMNS = (
    "Type,Name,Age,Breed1,Breed2,Gender,Color1,Color2,Color3,MaturitySize,FurLength,Vaccinated,"
    "Dewormed,Sterilized,Health,Quantity,Fee,State,RescuerID,VideoAmt,Description,PetID,PhotoAmt,"
    "AdoptionSpeed"
)


def _tiny_row(pet_id: str, rescuer: str, *, type_: str = "1", fee: str = "0", sterilized: str = "1") -> str:
    return (
        f"{type_},Rex,3,307,0,1,1,0,0,2,1,1,1,{sterilized},1,1,{fee},41326,{rescuer},0,"
        f"\"A made-up test dog, friendly.\",{pet_id},1.0,2"
    )


def _tiny_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "train.csv"
    path.write_text(_COLUMNS + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_petfinder_key_collision_names_both_rescuers(tmp_path):
    first = "abcdef012345" + "0" * 20
    second = "abcdef012345" + "1" * 20
    path = _tiny_csv(tmp_path, [_tiny_row("p1", first), _tiny_row("p2", second)])
    with pytest.raises(ValueError) as info:
        read_petfinder(path)
    assert first in str(info.value) and second in str(info.value)


def test_petfinder_min_listings_counts_all_species(tmp_path):
    a = "a" * 32
    b = "b" * 32
    c = "c" * 32
    rows = [
        _tiny_row("a1", a), _tiny_row("a2", a, type_="2"), _tiny_row("a3", a, type_="2"),  # 1 dog + 2 cats
        _tiny_row("b1", b), _tiny_row("b2", b),
        _tiny_row("c1", c, sterilized="3"),
    ]
    path = _tiny_csv(tmp_path, rows)
    assert set(read_petfinder(path, min_listings=1)) == {"petfinder-" + x * 12 for x in "abc"}
    at_least_three = read_petfinder(path, min_listings=3)
    assert list(at_least_three) == ["petfinder-" + "a" * 12]
    assert [r["species"] for r in at_least_three["petfinder-" + "a" * 12]] == ["dog", "cat", "cat"]
    assert set(read_petfinder(path, min_listings=2)) == {"petfinder-" + "a" * 12, "petfinder-" + "b" * 12}
    assert read_petfinder(path, min_listings=4) == {}
    only_c = read_petfinder(path)["petfinder-" + "c" * 12][0]
    assert "neutered" not in only_c and only_c["breed1_id"] == 307 and "breed2_id" not in only_c
    with pytest.raises(ValueError, match="min_listings"):
        read_petfinder(path, min_listings=0)


def test_petfinder_bad_fee_names_pet_and_field(tmp_path):
    path = _tiny_csv(tmp_path, [_tiny_row("86e1089a3", "d" * 32, fee="abc")])
    with pytest.raises(ValueError, match=r"PetID 86e1089a3: Fee 'abc' is not a number"):
        read_petfinder(path)


def test_petfinder_unknown_code_names_pet_and_field(tmp_path):
    path = _tiny_csv(tmp_path, [_tiny_row("x1", "e" * 32, sterilized="7")])
    with pytest.raises(ValueError, match=r"PetID x1: Sterilized '7'"):
        read_petfinder(path)


# ---------------------------------------------------------------- Tierheim München


@needs_tierheim
def test_tierheim_real_db():
    records = read_tierheim_muenchen(TIERHEIM_DB)
    assert len(records) == 69
    con = sqlite3.connect(f"{TIERHEIM_DB.resolve().as_uri()}?mode=ro", uri=True)
    raw = {
        row[0]: row
        for row in con.execute("SELECT shelter_identifier, name, born_at, weight, height, is_male, description FROM dogs")
    }
    con.close()
    assert {r["external_id"] for r in records} == set(raw)
    unknown_birth = [r for r in records if raw[r["external_id"]][2].startswith("0001-01-01")]
    assert len(unknown_birth) == 2 and all("birth_date" not in r for r in unknown_birth)
    for record in records:
        _, name, born_at, weight, height, is_male, description = raw[record["external_id"]]
        ScrapeRecord.model_validate(record)
        assert not any(_bad_value(v) for v in record.values())
        assert record["name"] == name  # upper case kept
        assert record["description"] == description.strip()
        assert record["species"] == "dog" and record["location"] == "München"
        assert record["sex"] == ("male" if is_male == 1 else "female")
        assert "url" not in record and "neutered" not in record
        if weight == 0:
            assert "weight_kg" not in record
        else:
            assert record["weight_kg"] == weight
        if height == 0:
            assert "height_cm" not in record
        else:
            assert record["height_cm"] == height
        if not born_at.startswith("0001"):
            assert record["birth_date"] == born_at[:10]
    assert sum("weight_kg" not in r for r in records) == 23
    assert sum(r["description"] == "" for r in records) == 2


@needs_tierheim
def test_tierheim_opens_read_only(tmp_path):
    before = TIERHEIM_DB.stat().st_mtime_ns
    read_tierheim_muenchen(TIERHEIM_DB)
    assert TIERHEIM_DB.stat().st_mtime_ns == before
    with pytest.raises(FileNotFoundError):
        read_tierheim_muenchen(tmp_path / "missing.db")


@needs_tierheim
def test_import_tierheim_writes_one_full_scrape(tmp_path):
    path = import_tierheim_muenchen(TIERHEIM_DB, tmp_path)
    assert path == tmp_path / "tierheim-muenchen" / "tierheim-muenchen-crawl.jsonl"
    header, records = _read_scrape(path)
    parsed = ScrapeHeader.model_validate(header)
    assert parsed.full is True and parsed.source == "tierheim-muenchen.de"
    con = sqlite3.connect(f"{TIERHEIM_DB.resolve().as_uri()}?mode=ro", uri=True)
    (latest,) = con.execute("SELECT max(fetched_at) FROM dogs").fetchone()
    con.close()
    assert parsed.scraped_at is not None
    assert parsed.scraped_at.isoformat(sep=" ") == latest
    assert len(records) == 69
    for record in records:
        ScrapeRecord.model_validate(record)


def test_tierheim_sentinels_on_a_tiny_db(tmp_path):
    db = tmp_path / "dogs.db"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE dogs (id text, shelter_identifier text, name text, breed text, color text, "
        "is_male numeric, description text, born_at datetime, weight integer, height integer, "
        "fetched_at datetime)"
    )
    con.execute(
        "INSERT INTO dogs VALUES ('u1', '9001', 'TESTHUND', '', '', 0, '', "
        "'0001-01-01 00:00:00+00:00', 0, 0, '0001-01-01 00:00:00+00:00')"
    )
    con.execute(
        "INSERT INTO dogs VALUES ('u2', '9002', 'ZWEI', 'Mix', 'braun', 1, 'Ein erfundener Text.', "
        "'2020-03-04 00:00:00+00:00', -3, 50, '2023-01-02 03:04:05+01:00')"
    )
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="shelter_identifier 9002: weight"):
        read_tierheim_muenchen(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE dogs SET weight = 12 WHERE id = 'u2'")
    con.commit()
    con.close()
    first, second = read_tierheim_muenchen(db)
    assert first == {
        "external_id": "9001", "name": "TESTHUND", "description": "", "species": "dog",
        "sex": "female", "location": "München",
    }
    assert second["birth_date"] == "2020-03-04" and second["weight_kg"] == 12 and second["color"] == "braun"


# ---------------------------------------------------------------- demo set


def _demo_lines() -> list[tuple[str, dict]]:
    lines = []
    for path in sorted(demo_data_dir().glob("*/*.jsonl")):
        rows = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(rows[0])
        assert list(header) == [HEADER_KEY], path
        ScrapeHeader.model_validate(header[HEADER_KEY])
        lines += [(path.parent.name, json.loads(row)) for row in rows[1:]]
    return lines


def test_demo_set_shape():
    lines = _demo_lines()
    organizations = {org for org, _ in lines}
    assert len(organizations) >= 3
    for org in organizations:
        validate_organization_key(org)
    invalid = []
    valid = []
    for org, record in lines:
        try:
            valid.append((org, ScrapeRecord.model_validate(record)))
        except ValidationError:
            invalid.append((org, record))
    assert len(invalid) == 1
    records = [r for _, r in valid]
    text = " ".join(r.description for r in records)
    # English and German text both present.
    assert " the " in text and " and " in text
    assert " und " in text and " ist " in text
    assert "kastriert" in text and "kinderlieb" in text and "Leinenaggression" in text
    assert any(r.species == "cat" for r in records)
    assert any(len(r.description) < 80 for r in records)
    assert sum(300 <= len(r.description) <= 900 for r in records) >= 10
    assert any("Ignore all previous instructions" in r.description for r in records)
    assert any(r.age_text is None and r.breed is None and r.size is None and r.birth_date is None for r in records)
    assert any(r.birth_date is not None for r in records)
    assert any(r.age_text in ("2 Jahre", "3 years") for r in records)
    assert any(r.weight_kg is not None and r.fee is not None for r in records)
    ids = Counter((org, r.external_id) for org, r in valid)
    assert max(ids.values()) == 1


def test_import_demo_is_idempotent(tmp_path):
    first = import_demo(tmp_path)
    assert len(first) >= 3
    for org, path in first.items():
        assert path.parent == tmp_path / org
        assert path.read_bytes() == (demo_data_dir() / org / path.name).read_bytes()
    snapshot = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*") if p.is_file()}
    second = import_demo(tmp_path)
    assert second == first
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == snapshot  # nothing new, nothing rewritten, no temp files left


def test_import_demo_replaces_changed_file(tmp_path):
    paths = import_demo(tmp_path)
    org, path = next(iter(paths.items()))
    path.write_text("stale\n", encoding="utf-8")
    import_demo(tmp_path)
    assert path.read_bytes() == (demo_data_dir() / org / path.name).read_bytes()
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    assert os.listdir(tmp_path / org) == [path.name]


def test_petfinder_nan_text_and_missing_codes(tmp_path):
    header = _COLUMNS
    # Breed1 0 with a Breed2, MaturitySize/FurLength/Health 0, Vaccinated 3, Description 'nan'
    # (the Kaggle export's rendering of a missing text), empty Name.
    row = "2,,0,0,266,3,0,0,0,0,0,3,2,2,0,4,12.5,41401," + "f" * 32 + ",0,nan,n1,0.0,4"
    path = tmp_path / "train.csv"
    path.write_text(header + "\n" + row + "\n", encoding="utf-8")
    (record,) = read_petfinder(path)["petfinder-" + "f" * 12]
    assert record["name"] == "" and record["description"] == ""
    assert record["age_text"] == "0 months" and record["sex"] == "group" and record["quantity"] == 4
    assert record["fee"] == 12.5 and record["dewormed"] is False and record["neutered"] is False
    for key in ("size", "fur_length", "health", "vaccinated", "breed1_id", "color_ids", "breed"):
        assert key not in record, key
    assert record["breed2_id"] == 266
    ScrapeRecord.model_validate(record)


@needs_petfinder
def test_petfinder_whole_file_has_unique_keys():
    organizations = read_petfinder(TRAIN_CSV, labels_dir=PETFINDER)
    raw = _raw_rows()
    assert len(organizations) == len({row["RescuerID"] for row in raw.values()})
    assert sum(map(len, organizations.values())) == len(raw) == 14993
    records = [r for rs in organizations.values() for r in rs]
    # Breed1 0 with a Breed2 set: the breed comes from Breed2 alone.
    breeds = _labels("breed_labels.csv", "BreedID", "BreedName")
    for record in records:
        row = raw[record["external_id"]]
        if row["Breed1"] == "0" and row["Breed2"] != "0":
            assert record["breed"] == breeds[row["Breed2"]]
        assert not any(_bad_value(v) for v in record.values())
