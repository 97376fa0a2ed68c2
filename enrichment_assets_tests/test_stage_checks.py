"""Checks that read the rows of all the organizations of a step at once (``evaluate_many``)
give each organization the result it gets on its own, across the query chunks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from enrichment_assets.checks import stage_checks
from enrichment_assets.checks._stage import ResolvedThresholds
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.storage import database
from enrichment_assets.storage.schema import normalized_records, scrape_files
from enrichment_assets_tests.conftest import profiled_demo

ORGS = ["demo-hope-hounds", "demo-paws-rescue", "demo-tierheim-nord"]


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from enrichment_assets.llm.prompts import load_prompt_config
    from enrichment_assets.pipeline.normalize import normalize_organization
    from enrichment_assets.pipeline.quality import score_organization
    from enrichment_assets.pipeline.raw import ingest_organization

    folder = tmp_path_factory.mktemp("stage-checks")
    engine, _, _ = profiled_demo(folder, ORGS[0])
    for org in ORGS[1:]:
        ingest_organization(engine, folder / "landing", org, run_id="run-1")
        normalize_organization(engine, org)
    for org in ORGS[:1]:
        score_organization(engine, org, load_prompt_config(org).cliches)
    with engine.begin() as conn:  # one stored row of one organization breaks its contract
        external_id = conn.execute(sa.select(normalized_records.c.external_id).where(
            normalized_records.c.organization == ORGS[1]).limit(1)).scalar_one()
        conn.execute(normalized_records.update().where(
            normalized_records.c.organization == ORGS[1], normalized_records.c.external_id == external_id,
        ).values(content_hash="not-the-hash"))
        runs = dict(conn.execute(sa.select(scrape_files.c.organization, scrape_files.c.run_id)).all())
    assert runs[ORGS[1]] == "run-1"
    yield engine
    engine.dispose()


@pytest.mark.parametrize("per_query", [1, 2, database.ORGANIZATIONS_PER_QUERY])
def test_many_at_once_is_each_on_its_own(demo_engine, monkeypatch, per_query):
    monkeypatch.setattr(database, "ORGANIZATIONS_PER_QUERY", per_query)
    orgs = [*ORGS, "org-with-no-rows"]
    thresholds = ResolvedThresholds(CheckThresholds())
    batched = [c for c in stage_checks if c.evaluate_many is not None]
    assert {c.name for c in batched} >= {"raw_records_scrape_files_healthy", "normalized_records_schema_valid",
                                         "quality_floor", "raw_records_schema_valid"}
    for check in batched:
        together = check.evaluate_all(demo_engine, orgs, thresholds, "run-1")
        assert list(together) == orgs
        for org in orgs:
            assert together[org] == check.evaluate_all(demo_engine, [org], thresholds, "run-1")[org], (check.name, org)
    schema = next(c for c in batched if c.name == "normalized_records_schema_valid")
    results = schema.evaluate_all(demo_engine, orgs, thresholds, "run-1")
    assert [results[o].passed for o in orgs] == [True, False, True, True]
    assert results[ORGS[1]].metadata["invalid_rows"] == 1
    assert results[ORGS[0]].metadata["checked_rows"] > 0 and results["org-with-no-rows"].metadata["checked_rows"] == 0
    files = next(c for c in batched if c.name == "raw_records_scrape_files_healthy")
    results = files.evaluate_all(demo_engine, orgs, thresholds, "run-1")
    assert [results[o].metadata["files"] for o in orgs] == [0, 1, 1, 0]  # the first was ingested without run id
    quality = next(c for c in batched if c.name == "quality_floor")
    results = quality.evaluate_all(demo_engine, orgs, thresholds, "run-1")
    assert results[ORGS[0]].metadata["scored"] > 0 and results[ORGS[1]].metadata["scored"] == 0


def test_rows_by_organization_keeps_every_organization_and_the_query_order(engine):
    c = scrape_files.c
    with engine.begin() as conn:
        for org, path in (("b", "z.jsonl"), ("a", "y.jsonl"), ("b", "x.jsonl")):
            conn.execute(scrape_files.insert().values(
                organization=org, path=path, sha256=path * 3, full_scrape=False, lines=1, accepted=1, rejected=0,
                processed_at=database.utcnow()))
        grouped = database.rows_by_organization(conn, sa.select(c.organization, c.path).order_by(c.path),
                                                c.organization, ["b", "none", "a", "b"])
    assert list(grouped) == ["b", "none", "a"]
    assert [r["path"] for r in grouped["b"]] == ["x.jsonl", "z.jsonl"]
    assert grouped["none"] == [] and [r["path"] for r in grouped["a"]] == ["y.jsonl"]
