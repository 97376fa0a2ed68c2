"""Broken and hostile scrape files (issue 9): a file is the unit of trust.

Every broken-file case: nothing is marked removed, the file is quarantined (kept, with its
reason, listed by ``enrichment status``), an alert row is stored, and the next good file of
the organization is still ingested. Plus: sudden drops held for confirmation, identical
bytes under two organizations, what the sensor requests, and landing entries that are never
read (links out, FIFOs, directories, invalid folders). Plain pytest on SQLite unless noted.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.pipeline import raw as raw_pipeline
from enrichment_assets.pipeline.discovery import plan_new_scrapes
from enrichment_assets.pipeline.raw import ConfirmError, confirm_held_removals, ingest_organization
from enrichment_assets.pipeline.status import scrape_file_attention
from enrichment_assets.sources.landing import scan_landing
from enrichment_assets.storage.database import create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import alerts, raw_records, rejected_records, scrape_files

ORG = "shelter-a"


def _listing(i: int, **extra) -> dict:
    return {"external_id": f"id-{i}", "name": f"Dog {i}", "description": f"Dog {i} likes walks.", **extra}


def _lines(records: list[dict], header: dict | None = None) -> bytes:
    rows = ([json.dumps({"__scrape__": header})] if header is not None else []) + [json.dumps(r) for r in records]
    return ("\n".join(rows) + "\n").encode("utf-8")


def _write(landing: Path, name: str, data: bytes, org: str = ORG) -> Path:
    path = landing / org / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


def _active(engine: sa.Engine, org: str = ORG) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(raw_records.c.external_id).where(
            raw_records.c.organization == org, raw_records.c.removed_at.is_(None))).scalars())


def _file_row(engine: sa.Engine, name: str, org: str = ORG) -> dict:
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(scrape_files).where(
            scrape_files.c.organization == org)).mappings() if Path(r["path"]).name == name]
    assert len(rows) == 1, rows
    return rows[0]


def _alerts(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(alerts)).mappings()]


TEN = [_listing(i) for i in range(10)]
GOOD_HEADER = {"scrape_id": "s1", "full": True, "scraped_at": "2026-01-01T08:00:00Z"}

BROKEN_FILES = {
    "bom before the header": b"\xef\xbb\xbf" + _lines(TEN[:2], {"full": True}),
    "unknown header key": _lines(TEN[:2], {"full": True, "ful": False}),
    "blank first line": b"\n" + _lines(TEN[:2]),
    "bad header timestamp": _lines(TEN[:2], {"scraped_at": "0001-01-01T00:00:00+14:00"}),
    "zero bytes": b"",
    "utf-16": _lines(TEN[:2]).decode("utf-8").encode("utf-16"),
    "html error page": b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    "below the accepted floor": _lines(TEN[:1]) + b"not json\n[1]\n{\"external_id\": 5}\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_file_is_quarantined_and_removes_nothing(case: str, engine, landing) -> None:
    _write(landing, "2026-01-01.jsonl", _lines(TEN, GOOD_HEADER))
    first = ingest_organization(engine, landing, ORG)
    assert first.accepted == 10 and not first.quarantined
    assert _active(engine) == {f"id-{i}" for i in range(10)}

    broken = _write(landing, "2026-01-02.jsonl", BROKEN_FILES[case])
    result = ingest_organization(engine, landing, ORG, run_id="run-broken")
    assert result.removed == 0 and _active(engine) == {f"id-{i}" for i in range(10)}, case
    row = _file_row(engine, broken.name)
    assert row["status"] == "quarantined" and row["reason"] and row["removed"] == 0
    assert row["run_id"] == "run-broken"
    assert result.quarantined and broken.name in result.quarantined[0]
    assert broken.exists(), "a quarantined file is kept in the landing folder"
    (alert,) = [a for a in _alerts(engine) if a["kind"] == "scrape_file"]
    assert alert["severity"] == "ERROR" and alert["partition"] == ORG and broken.name in alert["summary"]
    listed = scrape_file_attention(engine)
    assert list(listed["file"]) == [broken.name] and list(listed["status"]) == ["quarantined"]

    # the next good file still ingests, and (being healthy and full) may remove listings
    _write(landing, "2026-01-03.jsonl", _lines(TEN[:8] + [_listing(42)],
                                               {"full": True, "scraped_at": "2026-01-03T08:00:00Z"}))
    later = ingest_organization(engine, landing, ORG)
    assert later.files == ["2026-01-03.jsonl"] and later.removed == 2 and not later.quarantined
    assert _active(engine) == {f"id-{i}" for i in range(8)} | {"id-42"}
    assert _file_row(engine, "2026-01-03.jsonl")["status"] == "applied"


def test_valid_listings_of_a_quarantined_file_are_stored(engine, landing) -> None:
    # a BOM hides the header, but the listings after it are fine: stored, nothing removed
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    ingest_organization(engine, landing, ORG)
    _write(landing, "b.jsonl", b"\xef\xbb\xbf" + _lines([_listing(1, breed="Boxer"), _listing(77)], GOOD_HEADER))
    result = ingest_organization(engine, landing, ORG)
    assert result.accepted == 2 and result.rejected == 1 and result.removed == 0
    assert _active(engine) == {f"id-{i}" for i in range(10)} | {"id-77"}
    with engine.connect() as conn:
        payload = conn.execute(sa.select(raw_records.c.payload).where(raw_records.c.external_id == "id-1")).scalar_one()
        reason = conn.execute(sa.select(rejected_records.c.reason).where(
            rejected_records.c.line_no == 1)).scalar_one()
    assert payload["breed"] == "Boxer"
    assert reason.startswith("b.jsonl line 1: scrape header:") and "byte order mark" in reason


def test_sudden_drop_is_held_until_confirmed(engine, landing) -> None:
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    ingest_organization(engine, landing, ORG)
    held_file = _write(landing, "b.jsonl", _lines(TEN[:3], {"full": True, "scraped_at": "2026-01-05T00:00:00Z"}))
    result = ingest_organization(engine, landing, ORG)
    assert result.removed == 0 and result.held_removals == 7 and len(_active(engine)) == 10
    row = _file_row(engine, held_file.name)
    assert row["status"] == "held" and sorted(row["held_removals"]) == [f"id-{i}" for i in range(3, 10)]
    assert "enrichment confirm-removals" in row["reason"]
    (alert,) = [a for a in _alerts(engine) if a["kind"] == "scrape_file"]
    assert alert["severity"] == "WARN"

    with pytest.raises(ConfirmError, match="0 held scrape files match"):
        confirm_held_removals(engine, ORG, "ffff")
    assert confirm_held_removals(engine, ORG, row["sha256"][:8]) == 7
    assert _active(engine) == {"id-0", "id-1", "id-2"}
    confirmed = _file_row(engine, held_file.name)
    assert confirmed["status"] == "applied" and confirmed["removed"] == 7 and confirmed["confirmed_at"]
    with pytest.raises(ConfirmError):
        confirm_held_removals(engine, ORG)


def test_held_drop_superseded_by_a_later_file_cannot_be_confirmed(engine, landing) -> None:
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    ingest_organization(engine, landing, ORG)
    _write(landing, "b.jsonl", _lines(TEN[:2], {"full": True, "scraped_at": "2026-01-05T00:00:00Z"}))
    ingest_organization(engine, landing, ORG)
    _write(landing, "c.jsonl", _lines(TEN[:9], {"full": True, "scraped_at": "2026-01-06T00:00:00Z"}))
    later = ingest_organization(engine, landing, ORG)
    assert later.removed == 1  # the later healthy file decides: one listing gone
    with pytest.raises(ConfirmError, match="superseded"):
        confirm_held_removals(engine, ORG)
    assert len(_active(engine)) == 9


def test_confirm_removals_command(enrichment_home: Path) -> None:
    from enrichment_assets import settings

    landing = settings.landing_dir()
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    _write(landing, "b.jsonl", _lines(TEN[:1], {"full": True, "scraped_at": "2026-02-01T00:00:00Z"}))
    engine = create_db_engine(settings.database_url())
    upgrade_to_head(engine)
    ingest_organization(engine, landing, ORG)
    runner = CliRunner()
    from enrichment_assets.cli import main

    status = runner.invoke(main, ["status"])
    assert status.exit_code == 0 and "b.jsonl" in status.output and "held" in status.output
    result = runner.invoke(main, ["confirm-removals", ORG])
    assert result.exit_code == 0, result.output
    assert "9 listings marked removed" in result.output
    assert _active(engine) == {"id-0"}
    again = runner.invoke(main, ["confirm-removals", ORG])
    assert again.exit_code != 0 and "0 held scrape files" in again.output
    engine.dispose()


def test_identical_bytes_for_two_organizations(engine, landing) -> None:
    data = _lines(TEN, GOOD_HEADER)
    _write(landing, "same.jsonl", data, org="org-one")
    _write(landing, "same.jsonl", data, org="org-two")
    plan = plan_new_scrapes(landing, set(), None, {})
    assert sorted(f.organization for f in plan.new_files) == ["org-one", "org-two"]
    for org in ("org-one", "org-two"):
        assert ingest_organization(engine, landing, org).accepted == 10
        assert len(_active(engine, org)) == 10
    # a second run finds nothing pending for either
    assert ingest_organization(engine, landing, "org-two").files == []


def test_sensor_plan_skips_files_processed_by_any_path(engine, landing) -> None:
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    ingest_organization(engine, landing, ORG)  # as `enrichment run` does, no sensor involved
    processed = raw_pipeline.processed_scrape_files(engine)
    plan = plan_new_scrapes(landing, {ORG}, None, processed)
    assert plan.new_files == [] and json.loads(plan.cursor) == {}
    new = _write(landing, "b.jsonl", _lines(TEN[:9], GOOD_HEADER))
    plan = plan_new_scrapes(landing, {ORG}, plan.cursor, processed)
    assert [f.path for f in plan.new_files] == [new]
    # requested once: the next tick (before the run) does not request it again
    again = plan_new_scrapes(landing, {ORG}, plan.cursor, processed)
    assert again.new_files == [] and json.loads(again.cursor) == {ORG: [plan.new_files[0].sha256]}
    # the old cursor format (one global sha256 list) is still understood
    legacy = plan_new_scrapes(landing, {ORG}, json.dumps([plan.new_files[0].sha256]), processed)
    assert legacy.new_files == []


def _landing_with_hostile_entries(tmp_path: Path, landing: Path) -> None:
    _write(landing, "good.jsonl", _lines(TEN[:3], GOOD_HEADER))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text(json.dumps(_listing(99)) + "\n", encoding="utf-8")
    os.symlink(outside / "secret.jsonl", landing / ORG / "link-out.jsonl")
    os.symlink(landing / ORG / "missing.jsonl", landing / ORG / "dangling.jsonl")
    os.symlink(landing / ORG / "good.jsonl", landing / ORG / "link-in.jsonl")
    os.mkfifo(landing / ORG / "pipe.jsonl")
    (landing / ORG / "folder.jsonl").mkdir()
    os.symlink(outside, landing / "linked-org")
    for name in ("org\n", ".hidden", "Bad Org"):
        _write(landing, "x.jsonl", _lines([_listing(1)]), org=name)
    (landing / "stray.jsonl").write_text("{}\n", encoding="utf-8")


def test_only_regular_files_inside_the_landing_folder_are_read(tmp_path: Path, engine, landing) -> None:
    _landing_with_hostile_entries(tmp_path, landing)
    done = threading.Event()
    outcome: dict = {}

    def run() -> None:
        outcome["plan"] = plan_new_scrapes(landing, set(), None, {})
        outcome["result"] = ingest_organization(engine, landing, ORG)
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert done.wait(120), "a FIFO named *.jsonl must never block the scan or the ingest"
    plan, result = outcome["plan"], outcome["result"]
    readable = scan_landing(landing).files
    assert sorted(f.path.name for f in readable) == ["good.jsonl", "link-in.jsonl"]  # a link inside is fine
    # ... and has the same bytes as good.jsonl: one run
    assert [f.path.name for f in plan.new_files] == ["good.jsonl"]
    problems = "\n".join(plan.problems)
    for name, why in [("link-out.jsonl", "outside the landing folder"), ("dangling.jsonl", "dangling"),
                      ("pipe.jsonl", "FIFO"), ("folder.jsonl", "directory"),
                      ("'linked-org'", "outside the landing folder"), ("'org\\x0a'", "organization key"),
                      ("'.hidden'", "organization key"), ("'Bad Org'", "organization key"),
                      ("stray.jsonl", "outside an organization folder")]:
        assert any(name in p and why in p for p in plan.problems), (name, problems)
    # the link inside the landing folder has the same bytes as good.jsonl: ingested once
    assert result.files == ["good.jsonl"] and result.accepted == 3
    assert "id-99" not in _active(engine)
    assert any("pipe.jsonl" in s for s in result.skipped)


def test_sensor_and_cli_name_ignored_entries(tmp_path: Path, enrichment_home: Path) -> None:
    from enrichment_assets import settings
    from enrichment_assets.automation.sensors import new_scrape_sensor
    from enrichment_assets.cli import main
    from enrichment_assets.resources.database import DatabaseResource
    from enrichment_assets.resources.landing import LandingResource

    landing = settings.landing_dir()
    landing.mkdir(parents=True)
    for name in ("org\n", ".hidden"):
        _write(landing, "x.jsonl", _lines([_listing(1)]), org=name)
    resources = {"landing": LandingResource(path=str(landing)),
                 "database": DatabaseResource(url=settings.database_url())}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = new_scrape_sensor(ctx)
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    reason = result.skip_reason.skip_message
    assert reason.startswith("no new scrape files; ignored: ")
    assert "'org\\x0a'" in reason and "'.hidden'" in reason
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0
    assert "2 landing entries ignored" in status.output and "'.hidden'" in status.output


def test_raw_records_check_fails_with_error_for_a_quarantined_file(tmp_path: Path, landing) -> None:
    from enrichment_assets.assets import raw_records as raw_asset
    from enrichment_assets.partitions import organizations
    from enrichment_assets.resources.database import DatabaseResource
    from enrichment_assets.resources.landing import LandingResource

    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'dg.db'}")
    resources = {"database": database, "landing": LandingResource(path=str(landing))}
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, [ORG])

        def run() -> dict[str, dg.AssetCheckEvaluation]:
            result = dg.materialize([raw_asset], partition_key=ORG, instance=instance,
                                    resources=resources, raise_on_error=False)
            assert result.success, "a quarantined file never fails the run"
            return {c.check_name: c for c in result.get_asset_check_evaluations()}

        first = run()["raw_records_scrape_files_healthy"]
        assert first.passed
        _write(landing, "b.jsonl", BROKEN_FILES["html error page"])
        second = run()["raw_records_scrape_files_healthy"]
        assert not second.passed and second.severity == dg.AssetCheckSeverity.ERROR
        assert second.metadata["quarantined"].value == 1
        _write(landing, "c.jsonl", _lines(TEN[:9], GOOD_HEADER))
        third = run()
        assert third["raw_records_scrape_files_healthy"].passed
        assert third["raw_records_schema_valid"].passed
    assert len(_active(database.engine)) == 9
    database.engine.dispose()


@pytest.mark.postgres
def test_a_value_the_database_refuses_rejects_only_its_line(postgres_url: str, landing, monkeypatch) -> None:
    engine = create_db_engine(postgres_url)
    upgrade_to_head(engine)
    original = raw_pipeline._raw_row

    def too_long_for_the_column(organization, scrape, line, scraped_at, seen_at):
        row = original(organization, scrape, line, scraped_at, seen_at)
        if row["external_id"] == "id-3":  # slips past the contract: varchar(200) refuses it
            row["external_id"] = "x" * 300
        return row

    monkeypatch.setattr(raw_pipeline, "_raw_row", too_long_for_the_column)
    _write(landing, "a.jsonl", _lines(TEN, GOOD_HEADER))
    try:
        result = ingest_organization(engine, landing, ORG)
        assert result.accepted == 9 and result.rejected == 1 and result.quarantined
        assert _active(engine) == {f"id-{i}" for i in range(10)} - {"id-3"}
        with engine.connect() as conn:
            (reason,) = conn.execute(sa.select(rejected_records.c.reason)).scalars()
        assert reason.startswith("a.jsonl line 5, external_id 'id-3': the database refused the listing")
        assert _file_row(engine, "a.jsonl")["status"] == "quarantined"
    finally:
        engine.dispose()


def test_many_organizations_at_once_ingest_as_each_on_its_own(tmp_path: Path, landing) -> None:
    """``ingest_organizations`` (a many-partition step) reads what it knows of all its
    organizations' files at once; each organization's result and rows are what ingesting it
    on its own gives: a healthy file, a quarantined one, a processed file touched (not read
    again), an organization with no folder, one named twice."""
    from enrichment_assets.pipeline.raw import ingest_organizations

    engines = {}
    for name in ("alone", "together"):
        engines[name] = create_db_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade_to_head(engines[name])
    _write(landing, "2026-01-01.jsonl", _lines(TEN, GOOD_HEADER), org="org-a")
    _write(landing, "2026-01-01.jsonl", _lines(TEN[:3]), org="org-b")
    _write(landing, "2026-01-01.jsonl", BROKEN_FILES["html error page"], org="org-c")
    orgs = ["org-a", "org-b", "org-c", "org-without-folder", "org-b"]

    def rows(engine):
        with engine.connect() as conn:
            return (sorted(conn.execute(sa.select(raw_records.c.organization, raw_records.c.external_id,
                                                  raw_records.c.removed_at.is_(None))).all()),
                    sorted(conn.execute(sa.select(scrape_files.c.organization, scrape_files.c.status,
                                                  scrape_files.c.size.is_not(None))).all()))

    for round_ in range(2):
        alone = [ingest_organization(engines["alone"], landing, org, run_id="r") for org in dict.fromkeys(orgs)]
        together = ingest_organizations(engines["together"], landing, orgs, run_id="r")
        assert together == alone, round_
        assert rows(engines["together"]) == rows(engines["alone"]), round_
        if round_ == 0:
            assert [r.active_listings for r in together] == [10, 3, 0, 0]
            assert together[2].quarantined and together[0].accepted == 10
            # a later full scrape of org-a that drops two listings, and org-b's file touched
            _write(landing, "2026-01-02.jsonl", _lines(TEN[:8], {**GOOD_HEADER, "scraped_at": "2026-01-02T08:00:00Z"}),
                   org="org-a")
            os.utime(landing / "org-b" / "2026-01-01.jsonl", ns=(1, 1))
    assert [r.active_listings for r in together] == [8, 3, 0, 0] and together[0].removed == 2
    assert [r.files for r in together] == [["2026-01-02.jsonl"], [], [], []]
    for engine in engines.values():
        engine.dispose()
