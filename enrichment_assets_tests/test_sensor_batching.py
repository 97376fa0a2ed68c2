"""Batching of new_scrape_sensor and weekly_reprofile_schedule: ranged runs of at most
ENRICHMENT_MAX_PARTITIONS_PER_RUN organizations (issue 11), and no run for what is done."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from enrichment_assets.automation.schedules import weekly_reprofile_schedule
from enrichment_assets.automation.sensors import new_scrape_sensor
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.discovery import batch_new_scrapes, plan_new_scrapes
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource


def _write(landing: Path, org: str, name: str = "scrape.jsonl") -> Path:
    folder = landing / org
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"external_id": f"{org}-1", "name": "Rex",
                                "description": f"Rex from {org}, {name}."}) + "\n", encoding="utf-8")
    return path


def _covered(request: dg.RunRequest, order: list[str]) -> list[str]:
    """The partitions a request runs, resolved in ``order`` like Dagster resolves a range."""
    if request.partition_key is not None:
        assert request.partition_key_range is None
        return [request.partition_key]
    span = request.partition_key_range
    assert span is not None, "a request is either one partition or a range"
    return order[order.index(span.start):order.index(span.end) + 1]


def test_batches_append_new_organizations_and_keep_keys_stable(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for org in ("org-c", "org-a", "org-e"):  # known, with new files; org-b and org-d have none
        _write(landing, org)
    _write(landing, "org-a", "second.jsonl")
    _write(landing, "new-2")
    _write(landing, "new-1")
    known = ["org-c", "org-a", "org-b", "org-e", "org-d"]
    plan = plan_new_scrapes(landing, set(known), None, {})
    assert plan.new_organizations == ["new-1", "new-2"]
    batches = batch_new_scrapes(plan, known, 2)
    # org-b splits the known ones; org-d (no new files) separates org-e from the new ones
    assert [b.organizations for b in batches] == [("org-c", "org-a"), ("org-e",), ("new-1", "new-2")]
    first = batches[0]
    assert first.run_key.startswith("org-c..org-a:") and len(first.scrapes) == 3
    tags = first.tags()
    assert tags["enrichment/scrape_files"] == "3" and tags["enrichment/organizations"] == "2"
    assert "org-a/second.jsonl" in tags["enrichment/scrape_file"]
    assert tags["enrichment/scrape_sha256"] == first.run_key.rsplit(":", 1)[1]
    single = batches[1]
    assert single.run_key == f"org-e:{single.scrapes[0].sha256}", "one organization keeps the old key"
    assert single.tags()["enrichment/scrape_file"] == "scrape.jsonl"
    again = batch_new_scrapes(plan_new_scrapes(landing, set(known), None, {}), known, 2)
    assert [b.run_key for b in again] == [b.run_key for b in batches]
    # a bounded tag however many files a run carries
    many = batch_new_scrapes(plan, known, 100)
    assert all(len(b.tags()["enrichment/scrape_file"]) < 240 for b in many)


def test_sensor_tick_with_1000_new_organizations_requests_ceil_n_runs(tmp_path: Path, monkeypatch) -> None:
    per_run = 64
    monkeypatch.setenv("ENRICHMENT_MAX_PARTITIONS_PER_RUN", str(per_run))
    landing = tmp_path / "landing"
    orgs = [f"org-{i:04d}" for i in range(1000)]
    for org in orgs:
        _write(landing, org)
    resources = {"landing": LandingResource(path=str(landing)),
                 "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = new_scrape_sensor(ctx)
        requests = result.run_requests
        assert len(requests) == math.ceil(1000 / per_run) == 16
        (added,) = result.dynamic_partitions_requests
        # the daemon adds the partitions before it submits the runs: emulate it, then resolve
        # every range against the instance's own order
        instance.add_dynamic_partitions(organizations.name, list(added.partition_keys))
        order = list(instance.get_dynamic_partitions(organizations.name))
        covered = [_covered(r, order) for r in requests]
        assert sorted(org for chunk in covered for org in chunk) == orgs, "every organization once"
        assert max(map(len, covered)) == per_run
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            assert [list(organizations.get_partition_keys_in_range(r.partition_key_range))
                    for r in requests] == covered, "Dagster resolves each range to its batch"
        for request, chunk in zip(requests, covered):
            assert request.tags["enrichment/organizations"] == str(len(chunk))
            assert request.tags["enrichment/scrape_files"] == str(len(chunk))
        assert len({r.run_key for r in requests}) == len(requests)

        # resumed from the cursor, with the partitions known: nothing new, no run
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor) as ctx:
            again = new_scrape_sensor(ctx)
        assert again.run_requests == [] and again.dynamic_partitions_requests == []
        assert again.skip_reason.skip_message == "no new scrape files"


def test_sensor_requests_nothing_after_enrichment_run(enrichment_home: Path) -> None:
    """`enrichment run` ingested the landing folder: the sensor (fresh cursor, as on the
    first tick of `make dev`) knows it from the scrape_files table and requests 0 runs."""
    from enrichment_assets import settings
    from enrichment_assets.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    result = runner.invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    resources = {"landing": LandingResource(path=str(settings.landing_dir())),
                 "database": DatabaseResource(url=settings.database_url())}
    with dg.DagsterInstance.from_config(str(enrichment_home / "dagster")) as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            tick = new_scrape_sensor(ctx)
        assert tick.run_requests == [] and tick.dynamic_partitions_requests == []
        assert tick.skip_reason.skip_message == "no new scrape files"
        # ... and a file that arrives afterwards is requested once, for its organization only
        org = sorted(instance.get_dynamic_partitions(organizations.name))[0]
        _write(settings.landing_dir(), org, "zz-later.jsonl")
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=tick.cursor) as ctx:
            later = new_scrape_sensor(ctx)
        assert [r.partition_key for r in later.run_requests] == [org]
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=later.cursor) as ctx:
            assert new_scrape_sensor(ctx).run_requests == []


def test_schedule_chunks_every_organization_idempotently(monkeypatch) -> None:
    monkeypatch.setenv("ENRICHMENT_MAX_PARTITIONS_PER_RUN", "2")
    when = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        empty = weekly_reprofile_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
        assert isinstance(empty, dg.SkipReason)
        instance.add_dynamic_partitions(organizations.name, ["org-e", "org-b", "org-a", "org-d", "org-c"])
        order = list(instance.get_dynamic_partitions(organizations.name))
        first = weekly_reprofile_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
        again = weekly_reprofile_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
        later = weekly_reprofile_schedule(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)))
    assert len(first) == 3, "ceil(5 / 2) ranged runs, not one per organization"
    assert [_covered(r, order) for r in first] == [["org-e", "org-b"], ["org-a", "org-d"], ["org-c"]]
    assert [r.run_key for r in first] == [r.run_key for r in again], "same tick, same run keys"
    assert not {r.run_key for r in first} & {r.run_key for r in later}
    assert all(r.tags["enrichment/trigger"] == "weekly_reprofile_schedule" for r in first)


def test_check_results_of_a_ranged_run_are_current_per_partition(tmp_path: Path) -> None:
    """What the UI's per-partition check status reads: each organization's latest evaluation
    targets that organization's latest materialization (``is_current``). An evaluation
    without a target is dropped from ``AssetCheck.partitionStatuses``."""
    from enrichment_assets.assets import all_assets
    from enrichment_assets.definitions import defs
    from enrichment_assets.resources.llm import LLMResource
    from enrichment_assets.resources.thresholds import CheckThresholds
    from enrichment_assets.sources.demo import import_demo

    landing = tmp_path / "landing"
    written = sorted(import_demo(landing))
    resources = {"database": DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}"), "llm": LLMResource(),
                 "landing": LandingResource(path=str(landing)), "thresholds": CheckThresholds()}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            (request,) = new_scrape_sensor(ctx).run_requests  # the sensor's own ranged request
        instance.add_dynamic_partitions(organizations.name, written)
        assert dg.materialize(all_assets, instance=instance, resources=resources, tags=request.tags).success
        check_keys = list(defs.resolve_asset_graph().asset_check_keys)
        infos = instance.event_log_storage.get_asset_check_partition_info(check_keys)
    by_key: dict = {}
    for info in infos:
        by_key.setdefault(info.check_key, {})[info.partition_key] = info
    assert set(by_key) == set(check_keys)
    for key, per_partition in by_key.items():
        assert sorted(per_partition) == written, key
        assert all(info.is_current for info in per_partition.values()), key
