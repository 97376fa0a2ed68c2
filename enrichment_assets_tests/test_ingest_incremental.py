"""Incremental ingest (issue 13): a landing file already recorded is not read again.

A file whose path, size and mtime (ns) match its ``scrape_files`` row is neither opened nor
hashed, by the ingest or by the sensor's plan. A file whose stat changed is hashed again; if
its bytes are known it is not processed twice, and its new stat is recorded. Opens are
counted by wrapping ``open_scrape_file`` where the scan and the parser call it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.pipeline import raw as raw_pipeline
from enrichment_assets.pipeline.discovery import plan_new_scrapes
from enrichment_assets.pipeline.raw import ingest_organization, processed_scrape_files, recorded_scrape_files
from enrichment_assets.sources import landing as landing_module
from enrichment_assets.storage.schema import raw_records, scrape_files

ORG = "shelter-a"
HEADER = {"scrape_id": "s", "full": True}


def _data(n: int, start: int = 0) -> bytes:
    rows = [json.dumps({"__scrape__": HEADER})] + [
        json.dumps({"external_id": f"id-{i}", "name": f"Dog {i}", "description": f"Dog {i} likes walks."})
        for i in range(start, start + n)]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    (tmp_path / "landing" / ORG).mkdir(parents=True)
    return tmp_path / "landing"


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files opened through open_scrape_file (scan, parse, header read)."""
    seen: list[str] = []
    real = landing_module.open_scrape_file

    def counting(scrape):
        seen.append(Path(getattr(scrape, "path", scrape)).name)
        return real(scrape)

    monkeypatch.setattr(landing_module, "open_scrape_file", counting)
    monkeypatch.setattr(raw_pipeline, "open_scrape_file", counting)
    return seen


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(scrape_files)).mappings()]


def _plan(engine: sa.Engine, landing: Path):
    return plan_new_scrapes(landing, {ORG}, None, processed_scrape_files(engine), recorded_scrape_files(engine))


def test_unchanged_rerun_reads_no_file(engine, landing, opens) -> None:
    path = landing / ORG / "a.jsonl"
    path.write_bytes(_data(5))
    first = ingest_organization(engine, landing, ORG)
    assert first.accepted == 5 and "a.jsonl" in opens
    (row,) = _rows(engine)
    info = os.stat(path)
    assert (row["size"], row["mtime_ns"]) == (info.st_size, info.st_mtime_ns)
    opens.clear()
    again = ingest_organization(engine, landing, ORG)
    plan = _plan(engine, landing)
    assert opens == []  # neither the ingest nor the sensor's plan read the file
    assert again.files == [] and plan.new_files == [] and plan.hashed == 0
    assert json.loads(plan.cursor) == {}


def test_touched_file_is_hashed_again_but_not_ingested_twice(engine, landing, opens) -> None:
    path = landing / ORG / "a.jsonl"
    path.write_bytes(_data(5))
    ingest_organization(engine, landing, ORG)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    opens.clear()
    plan = _plan(engine, landing)
    assert opens == ["a.jsonl"] and plan.hashed == 1 and plan.new_files == []
    assert [f.path for f in plan.rehashed] == [path]
    opens.clear()
    result = ingest_organization(engine, landing, ORG)
    assert opens == ["a.jsonl"]  # hashed once more, not parsed
    assert result.files == [] and result.inserted == 0 and len(_rows(engine)) == 1
    # the new stat is recorded: the next run reads nothing
    assert _rows(engine)[0]["mtime_ns"] == stat.st_mtime_ns + 5_000_000_000
    opens.clear()
    assert ingest_organization(engine, landing, ORG).files == [] and opens == []
    assert _plan(engine, landing).hashed == 0 and opens == []


def test_changed_bytes_at_the_same_path_are_ingested(engine, landing, opens) -> None:
    path = landing / ORG / "a.jsonl"
    path.write_bytes(_data(5))
    ingest_organization(engine, landing, ORG)
    path.write_bytes(_data(6))  # size differs
    plan = _plan(engine, landing)
    assert [f.path for f in plan.new_files] == [path]
    result = ingest_organization(engine, landing, ORG)
    assert result.files == ["a.jsonl"] and result.inserted == 1
    assert len(_rows(engine)) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_records)).scalar_one() == 6


def test_recorded_stat_does_not_bypass_the_entry_checks(tmp_path: Path, engine, landing, opens) -> None:
    """A recorded path replaced by a link out of the landing folder (same size and mtime)
    or by a FIFO is still refused, and nothing is marked removed."""
    path = landing / ORG / "a.jsonl"
    path.write_bytes(_data(5))
    ingest_organization(engine, landing, ORG)
    stat = os.stat(path)
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(_data(5, start=100))
    os.utime(outside, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    path.unlink()
    os.symlink(outside, path)
    scan = landing_module.scan_landing(landing, ORG, recorded_scrape_files(engine))
    assert scan.files == [] and "outside the landing folder" in "\n".join(scan.problems())
    path.unlink()
    os.mkfifo(path)
    scan = landing_module.scan_landing(landing, ORG, recorded_scrape_files(engine))
    assert scan.files == [] and "FIFO" in "\n".join(scan.problems())
    result = ingest_organization(engine, landing, ORG)
    assert result.removed == 0 and result.active_listings == 5


def test_landing_organizations_and_dry_run_read_nothing_recorded(engine, landing, opens) -> None:
    from enrichment_assets.pipeline.discovery import landing_organizations

    path = landing / ORG / "a.jsonl"
    path.write_bytes(_data(3))
    ingest_organization(engine, landing, ORG)
    opens.clear()
    assert landing_organizations(landing, [], recorded_scrape_files(engine)) == [ORG] and opens == []
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    # the dry run's view (record_stats=False) hashes the touched file but writes nothing
    assert raw_pipeline.pending_scrape_files(engine, landing, ORG, record_stats=False) == []
    assert _rows(engine)[0]["mtime_ns"] == stat.st_mtime_ns
