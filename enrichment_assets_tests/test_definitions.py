"""The code location: loadable definitions, the sensor, and the whole job end to end."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from enrichment_assets.assets import all_assets
from enrichment_assets.automation.sensors import new_scrape_sensor
from enrichment_assets.definitions import defs
from enrichment_assets.partitions import organizations
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.sources.landing import file_sha256
from enrichment_assets.storage.schema import (
    llm_calls, llm_profiles, normalized_records, quality_scores, raw_records, rejected_records,
    translations, violations,
)

ASSET_NAMES = {"raw_records", "normalized_records", "llm_profiles", "quality_scores", "translations"}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()} == ASSET_NAMES
    checked = {k.asset_key.to_user_string() for k in repo.asset_graph.asset_check_keys}
    assert checked == ASSET_NAMES, "every asset needs a schema check"
    assert repo.get_sensor_def("new_scrape_sensor").default_status == dg.DefaultSensorStatus.RUNNING


def test_model_steps_share_one_concurrency_pool_limited_by_the_production_instance() -> None:
    import yaml

    repo = defs.get_repository_def()
    pools = {k.to_user_string(): repo.assets_defs_by_key[k].node_def.pool for k in repo.asset_graph.get_all_asset_keys()}
    assert {name for name, pool in pools.items() if pool} == {"llm_profiles", "translations"}
    assert len({pools["llm_profiles"], pools["translations"]}) == 1
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text(encoding="utf-8"))
    production = {key: value for key, value in config.items() if key != "storage"}  # storage: PostgreSQL
    with dg.instance_for_test(overrides=production) as instance:
        limit = instance.get_concurrency_config().pool_config.default_pool_limit
    assert isinstance(limit, int) and limit >= 1, "the production instance must bound the model pool"


def test_sensor_adds_partitions_and_batches_organizations_with_new_files(tmp_path: Path, monkeypatch) -> None:
    landing = tmp_path / "landing"
    written = import_demo(landing)
    (landing / "Bad Org").mkdir()
    (landing / "Bad Org" / "x.jsonl").write_text('{"external_id": "1"}\n', encoding="utf-8")
    busy = sorted(written)[-1]  # an organization with two new files: both in its run
    extra = landing / busy / "zz-extra.jsonl"
    extra.write_text('{"external_id": "x1", "name": "Xena", "description": "Xena is extra."}\n', encoding="utf-8")
    resources = {"landing": LandingResource(path=str(landing)),
                 "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")}
    files = sorted(landing.glob("demo-*/*.jsonl"))
    assert len(files) > len(written) >= 3
    with dg.instance_for_test() as instance:
        # the default limit carries every new organization in one ranged run
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            batched = new_scrape_sensor(ctx)
        (request,) = batched.run_requests
        assert request.partition_key is None
        assert request.partition_key_range == dg.PartitionKeyRange(sorted(written)[0], sorted(written)[-1])
        assert request.tags["enrichment/scrape_files"] == str(len(files))
        assert request.tags["enrichment/organizations"] == str(len(written))
        assert all(f"{f.parent.name}/{f.name}" in request.tags["enrichment/scrape_file"] for f in files)

        # at one partition per run: one run per organization, with the keys it always had
        monkeypatch.setenv("ENRICHMENT_MAX_PARTITIONS_PER_RUN", "1")
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = new_scrape_sensor(ctx)
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            replay = new_scrape_sensor(ctx)  # the same files give the same run keys
        assert sorted(r.partition_key for r in result.run_requests) == sorted(written)
        assert [r.run_key for r in replay.run_requests] == [r.run_key for r in result.run_requests]
        assert len({r.run_key for r in result.run_requests}) == len(written)
        for request in result.run_requests:
            org_files = [f for f in files if f.parent.name == request.partition_key]
            assert request.tags["enrichment/scrape_files"] == str(len(org_files))
            assert all(f.name in request.tags["enrichment/scrape_file"] for f in org_files)
            if len(org_files) == 1:
                assert request.run_key == f"{request.partition_key}:{file_sha256(org_files[0])}"
            else:
                assert request.partition_key == busy and request.run_key.startswith(f"{busy}:")
                assert request.run_key not in {f"{busy}:{file_sha256(f)}" for f in org_files}
        added = result.dynamic_partitions_requests[0]
        assert sorted(added.partition_keys) == sorted(written)
        assert "Bad Org" not in json.dumps([r.partition_key for r in result.run_requests])

        # the daemon applies the add request; emulate it, then resume from the cursor
        instance.add_dynamic_partitions(organizations.name, list(added.partition_keys))
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor) as ctx:
            again = new_scrape_sensor(ctx)
        assert again.run_requests == [] and again.dynamic_partitions_requests == []

        # a new scrape file of a known organization: one run, no new partition
        monkeypatch.delenv("ENRICHMENT_MAX_PARTITIONS_PER_RUN")
        org = sorted(written)[0]
        new_file = landing / org / "zz-second.jsonl"
        new_file.write_text('{"external_id": "n1", "name": "Nova", "description": "Nova is new."}\n',
                            encoding="utf-8")
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=again.cursor) as ctx:
            third = new_scrape_sensor(ctx)
        assert [(r.partition_key, r.run_key) for r in third.run_requests] == [(org, f"{org}:{file_sha256(new_file)}")]
        assert third.dynamic_partitions_requests == []


def _materialize(instance: dg.DagsterInstance, org: str, resources: dict) -> dg.ExecuteInJobResult:
    return dg.materialize(all_assets, partition_key=org, instance=instance,
                          resources=resources)


def _metadata(result: dg.ExecuteInJobResult, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key.to_user_string() == asset]
    assert len(events) == 1
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def _count(engine: sa.Engine, table: sa.Table, org: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)
                            .where(table.c.organization == org)).scalar_one()


def _snapshot(engine: sa.Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
                for t in (raw_records, normalized_records, llm_profiles, quality_scores,
                          translations, rejected_records, violations, llm_calls)}


def _run_demo_end_to_end(tmp_path: Path, database_url: str) -> None:
    landing = tmp_path / "landing"
    written = import_demo(landing)
    database = DatabaseResource(url=database_url)
    resources = {"database": database, "llm": LLMResource(), "landing": LandingResource(path=str(landing)),
                 "thresholds": CheckThresholds()}
    engine = database.engine
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, sorted(written))
        totals = {"ok": 0, "not_a_dog": 0, "insufficient_source": 0, "translations": 0, "rejected": 0}
        for org in sorted(written):
            result = _materialize(instance, org, resources)
            assert result.success
            checks = result.get_asset_check_evaluations()
            assert len(checks) == len(ASSET_NAMES) + 6 and all(c.passed for c in checks), \
                [(c.check_name, c.metadata) for c in checks if not c.passed]
            profiles = _metadata(result, "llm_profiles")
            statuses = profiles["statuses"]
            listings = _count(engine, normalized_records, org)
            assert _metadata(result, "normalized_records")["reused_without_normalizing"] == 0
            # each new profile was checked once, when the profile stage published it
            assert profiles["rules_reused_without_checking"] == statuses.get("ok", 0)
            assert _metadata(result, "quality_scores")["reused_without_scoring"] == 0
            assert sum(statuses.values()) == listings == profiles["listings"]
            assert "failed" not in statuses
            assert profiles["input_tokens"] > 0 and profiles["calls"] >= statuses.get("ok", 0)
            for key in totals:
                totals[key] += statuses.get(key, 0) if key in statuses else 0
            totals["translations"] += _metadata(result, "translations")["statuses"].get("ok", 0)
            totals["rejected"] += _metadata(result, "raw_records")["rejected"]
        assert totals["ok"] >= 10 and totals["not_a_dog"] >= 1 and totals["insufficient_source"] >= 1
        assert totals["rejected"] == 1
        assert totals["translations"] == 3 * totals["ok"], "de, fr and es for every ok profile"

        with engine.connect() as conn:
            rows = conn.execute(sa.select(llm_profiles.c.profile, llm_profiles.c.model_used)
                                .where(llm_profiles.c.status == "ok")).all()
        assert all("rule-based, not an LLM" in model for _, model in rows)
        for profile, _ in rows:
            text = json.dumps(profile)
            assert "None" not in text and "nan" not in text.split()

        # second run: nothing new, so no rows change and no model calls are made
        before = _snapshot(engine)
        for org in sorted(written):
            result = _materialize(instance, org, resources)
            assert result.success
            assert _metadata(result, "llm_profiles")["calls"] == 0
            assert _metadata(result, "translations")["calls"] == 0
            assert _metadata(result, "raw_records")["lines"] == 0
            normalized = _metadata(result, "normalized_records")
            assert normalized["reused_without_normalizing"] == normalized["normalized"] == _count(engine, normalized_records, org)
            profiles = _metadata(result, "llm_profiles")
            if profiles["statuses"].get("ok"):
                assert profiles["rules_reused_without_checking"] >= profiles["statuses"]["ok"]
                assert _metadata(result, "translations")["rules_reused_without_checking"] > 0
            scores = _metadata(result, "quality_scores")
            assert scores["reused_without_scoring"] == scores["scored"]
        assert _snapshot(engine) == before
    engine.dispose()


def test_whole_job_on_sqlite(tmp_path: Path) -> None:
    _run_demo_end_to_end(tmp_path, f"sqlite:///{tmp_path / 'enrichment.db'}")


@pytest.mark.postgres
def test_whole_job_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    _run_demo_end_to_end(tmp_path, postgres_url)


RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def test_one_ranged_run_records_each_organization_partition(tmp_path: Path) -> None:
    """One run over a range of three organization partitions: every asset records a
    materialization with its own metadata, and every check an evaluation, per organization."""
    landing = tmp_path / "landing"
    written = sorted(import_demo(landing))
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'enrichment.db'}")
    resources = {"database": database, "llm": LLMResource(), "landing": LandingResource(path=str(landing)),
                 "thresholds": CheckThresholds()}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, written)  # a range follows this order
        result = dg.materialize(all_assets, instance=instance, resources=resources,
                                tags=dict(zip(RANGE_TAGS, (written[0], written[-1]))))
        assert result.success
        assert len(instance.get_runs()) == 1
        for name in ASSET_NAMES:
            for org in written:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[org]), limit=5).records
                assert len(records) == 1, (name, org)
                metadata = records[0].asset_materialization.metadata
                if name == "llm_profiles":
                    assert metadata["listings"].value == _count(database.engine, normalized_records, org)
                if name == "translations":  # one pooled stage, each organization's own counts
                    assert metadata["failed_kept_previous"].value == 0
                    assert metadata["statuses"].value.get("ok", 0) == metadata["requested"].value - \
                        metadata["statuses"].value.get("blocked_by_check", 0)
        check_keys = defs.resolve_asset_graph().asset_check_keys
        assert len(check_keys) == len(ASSET_NAMES) + 6
        for key in check_keys:
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
            assert sorted(r.partition for r in history) == written, key
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(check_keys) * len(written)
        assert all(e.passed for e in evaluations), [(e.check_name, e.partition) for e in evaluations if not e.passed]
    database.engine.dispose()
