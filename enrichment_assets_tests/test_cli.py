"""The ``enrichment`` command and the headless ``dagster asset materialize`` path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets.partitions import organizations
from enrichment_assets.storage.schema import llm_profiles

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_import_demo_run_and_status(enrichment_home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    result = runner.invoke(main, ["run", "--organization", "demo-tierheim-nord"])
    assert result.exit_code == 0, result.output
    assert "demo-tierheim-nord" in result.output

    # the run went into the persistent instance under ENRICHMENT_HOME/dagster
    dagster_home = enrichment_home / "dagster"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert "demo-tierheim-nord" in instance.get_dynamic_partitions(organizations.name)
        assert "demo-paws-rescue" not in instance.get_dynamic_partitions(organizations.name)
        assert len(instance.get_runs()) == 1

    status = runner.invoke(main, ["status"])
    assert status.exit_code == 0
    line = next(l for l in status.output.splitlines() if "demo-tierheim-nord" in l)
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    assert int(cells[1]) > 0 and int(cells[3]) > 0, cells  # listings, published


def test_run_over_several_organizations_is_one_dagster_run(enrichment_home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    result = runner.invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    orgs = ["demo-hope-hounds", "demo-paws-rescue", "demo-tierheim-nord"]
    with dg.DagsterInstance.from_config(str(enrichment_home / "dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1, [r.tags for r in runs]
        registered = list(instance.get_dynamic_partitions(organizations.name))
        assert sorted(registered) == orgs
        assert runs[0].tags["dagster/asset_partition_range_start"] == registered[0]
        assert runs[0].tags["dagster/asset_partition_range_end"] == registered[-1]
        for org in orgs:  # each organization still has its own materialization and checks
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("translations"), asset_partitions=[org]), limit=5).records
            assert len(records) == 1 and records[0].run_id == runs[0].run_id
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("llm_profiles"), "profiles_hallucination_free"), limit=10)
            assert org in {r.partition for r in history}
    # nothing new: no run (all unchanged), and the per-organization summary is still printed;
    # --force makes one more run
    again = runner.invoke(main, ["run"])
    assert again.exit_code == 0, again.output
    assert all(org in again.output for org in orgs) and "unchanged: 3" in again.output
    with dg.DagsterInstance.from_config(str(enrichment_home / "dagster")) as instance:
        assert len(instance.get_runs()) == 1
    assert runner.invoke(main, ["run", "--force"]).exit_code == 0
    with dg.DagsterInstance.from_config(str(enrichment_home / "dagster")) as instance:
        assert len(instance.get_runs()) == 2


def test_partition_chunks_follow_registration_order_and_the_size() -> None:
    from enrichment_assets.pipeline.batching import contiguous_chunks

    order = ["c", "a", "d", "b", "e"]
    assert contiguous_chunks(order, ["a", "b", "c", "d", "e"], 200) == [order]
    assert contiguous_chunks(order, ["a", "d", "e"], 200) == [["a", "d"], ["e"]]
    assert contiguous_chunks(order, order, 2) == [["c", "a"], ["d", "b"], ["e"]]
    with pytest.raises(ValueError):
        contiguous_chunks(order, ["x"], 2)


def test_run_rejects_unknown_organization(enrichment_home: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--organization", "no-such-org"])
    assert result.exit_code != 0
    assert "no-such-org" in result.output


def test_petfinder_import_requires_existing_file(enrichment_home: Path) -> None:
    result = CliRunner().invoke(main, ["import", "petfinder", str(enrichment_home / "missing.csv")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_headless_dagster_materialize_of_registered_partition(enrichment_home: Path) -> None:
    """`dagster asset materialize ... --partition <org>` for a partition registered earlier."""
    runner = CliRunner()
    assert runner.invoke(main, ["import", "demo"]).exit_code == 0
    dagster_home = enrichment_home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions(organizations.name, ["demo-paws-rescue"])
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "ENRICHMENT_HOME": str(enrichment_home)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
         "enrichment_assets.definitions", "--select", "*", "--partition", "demo-paws-rescue"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    engine = sa.create_engine(f"sqlite:///{enrichment_home / 'enrichment.db'}")
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(llm_profiles.c.status, sa.func.count())
                                     .where(llm_profiles.c.organization == "demo-paws-rescue")
                                     .group_by(llm_profiles.c.status)).all())
    engine.dispose()
    assert statuses.get("ok", 0) > 0 and statuses.get("not_a_dog", 0) == 1


def test_backfill_runs_are_ranges_of_at_most_the_maximum() -> None:
    """Pure: a backfill of N organizations makes ceil(N / max) ranged runs in registration
    order; a selection with a gap is one more range; one organization is a partition run."""
    from enrichment_assets.automation.ranges import backfill_runs

    registered = [f"org-{i}" for i in range(7)]
    runs = backfill_runs(registered, registered, 3, "b1")
    assert [keys for keys, _ in runs] == [registered[0:3], registered[3:6], registered[6:]]
    assert runs[0][1] == {"dagster/asset_partition_range_start": "org-0", "dagster/asset_partition_range_end": "org-2",
                          "enrichment/trigger": "backfill", "enrichment/backfill": "b1",
                          "enrichment/organizations": "3"}
    assert runs[2][1]["dagster/partition"] == "org-6" and "dagster/asset_partition_range_start" not in runs[2][1]
    gap = backfill_runs(registered, ["org-5", "org-0", "org-1", "org-4"], 3, "b2")
    assert [keys for keys, _ in gap] == [["org-0", "org-1"], ["org-4", "org-5"]]
    with pytest.raises(ValueError, match="org-9"):
        backfill_runs(registered, ["org-9"], 3, "b3")


def test_backfill_queues_ranged_runs_that_materialize_every_partition(enrichment_home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`enrichment backfill` of 3 organizations with ENRICHMENT_MAX_PARTITIONS_PER_RUN=2 makes
    ceil(3 / 2) = 2 runs (not one per organization) through `dagster job launch`; with the
    default run coordinator (runs start at once, no daemon needed) every partition of every
    asset of the job gets a materialization."""
    import time

    from enrichment_assets.sources.demo import import_demo

    runner = CliRunner()
    assert "--organization KEY" in runner.invoke(main, ["backfill"]).output
    orgs = sorted(import_demo(enrichment_home / "landing"))
    dagster_home = enrichment_home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions(organizations.name, orgs)
    assert "not registered" in runner.invoke(main, ["backfill", "--organization", "org-c"]).output
    monkeypatch.setenv("ENRICHMENT_MAX_PARTITIONS_PER_RUN", "2")
    result = runner.invoke(main, ["backfill", "--all", "--job", "enrich_organization"])
    assert result.exit_code == 0, result.output
    assert "2 ranged run(s)" in result.output, result.output
    deadline = time.monotonic() + 400
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        while True:
            runs = instance.get_runs()
            if all(r.is_finished for r in runs) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert len(runs) == 2, "ceil(3 / 2) runs"
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
        assert all(r.job_name == "enrich_organization" and r.tags.get("enrichment/llm") == "true"
                   and r.tags.get("enrichment/trigger") == "backfill" for r in runs)
        assert len({r.tags["enrichment/backfill"] for r in runs}) == 1
        # the daemon resolves runs by the workspace's code location name, not the module
        assert {r.remote_job_origin.location_name for r in runs} == {"enrichment_assets"}
        ranged = next(r for r in runs if "dagster/asset_partition_range_start" in r.tags)
        assert (ranged.tags["dagster/asset_partition_range_start"],
                ranged.tags["dagster/asset_partition_range_end"]) == (orgs[0], orgs[1])
        assert next(r for r in runs if r is not ranged).tags["dagster/partition"] == orgs[2]
        for name in ("raw_records", "normalized_records", "llm_profiles", "quality_scores", "translations"):
            for org in orgs:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[org]), limit=5).records
                assert len(records) == 1, (name, org)

def test_alerts_lists_stored_alerts_newest_first(enrichment_home: Path) -> None:
    from enrichment_assets.pipeline.alerts import Alert, store_alerts
    from enrichment_assets.resources.database import DatabaseResource

    runner = CliRunner()
    assert "no alerts" in runner.invoke(main, ["alerts"]).output
    engine = DatabaseResource().engine
    store_alerts(engine, [
        Alert(dedupe_key="check:1", kind="check", severity="WARN", summary="median score 41.0",
              check_name="quality_floor", asset="quality_scores", partition="org-a"),
        Alert(dedupe_key="run:abc", kind="run", severity="ERROR", summary="step llm_profiles failed",
              asset="enrich_organization", partition="org-b", run_id="abc"),
    ])
    output = runner.invoke(main, ["alerts"]).output
    assert output.index("org-b") < output.index("org-a"), "newest first"
    assert "quality_floor" in output and "WARN" in output and "ERROR" in output
