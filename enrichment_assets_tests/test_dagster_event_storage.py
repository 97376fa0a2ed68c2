"""The embedded home's Dagster event log: the pooled SQLite storage writes what Dagster's own
SQLite storage reads (same files), and ``prepare_dagster_home`` configures it."""

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage

from enrichment_assets.settings import embedded_dagster_yaml, prepare_dagster_home
from enrichment_assets.storage.dagster_events import PooledSqliteEventLogStorage

parts = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=parts, check_specs=[dg.AssetCheckSpec("ok", asset="thing", partitions_def=parts)])
def thing(context: dg.AssetExecutionContext):
    for key in context.partition_keys:
        context.add_asset_metadata({"rows": len(key)}, partition_key=key)
    yield dg.MaterializeResult()
    yield dg.Output(None, output_name="thing_ok")  # as enrichment_assets.checks._stage does
    from enrichment_assets.checks._stage import latest_materializations

    targets = latest_materializations(context.instance, "thing", context.partition_keys, context.run.run_id)
    for key in context.partition_keys:
        yield dg.AssetCheckEvaluation(asset_key=dg.AssetKey("thing"), check_name="ok", passed=key != "b",
                                      partition=key, target_materialization_data=targets.get(key))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ENRICHMENT_HOME", str(tmp_path))
    monkeypatch.delenv("ENRICHMENT_DAGSTER_PG_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return prepare_dagster_home()


def test_embedded_home_uses_the_pooled_event_log(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        instance.add_dynamic_partitions("organizations", ["org-a", "org-b"])
        assert instance.get_dynamic_partitions("organizations") == ["org-a", "org-b"]
    assert (home / "history" / "runs.db").exists()  # where Dagster's own run storage keeps it


def test_a_ranged_run_is_read_back_by_dagsters_own_sqlite_storage(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([thing], instance=instance,
                                tags={"dagster/asset_partition_range_start": "a",
                                      "dagster/asset_partition_range_end": "c"})
        assert result.success
        run_id = result.run_id
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        records = stock.fetch_materializations(dg.AssetKey("thing"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["a", "b", "c"]
        assert {r.partition_key: r.asset_materialization.metadata["rows"].value for r in records} == {
            "a": 1, "b": 1, "c": 1}
        checks = stock.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("thing"), "ok"), limit=10)
        assert len(checks) == 3
        assert {c.run_id for c in checks} == {run_id}
        failed = [c for c in checks if c.status == AssetCheckExecutionRecordStatus.FAILED]
        assert len(failed) == 1
    finally:
        stock.dispose()


def test_generated_and_legacy_files_are_updated_a_hand_written_one_is_kept(home):
    config = home / "dagster.yaml"
    assert config.read_text() == embedded_dagster_yaml(home)
    config.write_text("telemetry:\n  enabled: false\n")  # what earlier versions wrote
    prepare_dagster_home()
    assert config.read_text() == embedded_dagster_yaml(home)
    config.write_text("telemetry:\n  enabled: true\n")
    prepare_dagster_home()
    assert config.read_text() == "telemetry:\n  enabled: true\n"


def test_remembered_partition_keys_follow_changes_made_by_another_process(home):
    """The pooled storage serves a definition's keys from memory while they are unchanged; keys
    added or deleted through a second storage on the same files (as the daemon or a sensor
    would, in another process) are seen at the next read, in insertion order."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ours = instance.event_log_storage
        ours.add_dynamic_partitions("organizations", ["org-c", "org-a"])
        assert ours.get_dynamic_partitions("organizations") == ["org-c", "org-a"]
        keys = ours.get_dynamic_partitions("organizations")
        keys.append("changed-by-the-caller")
        assert ours.get_dynamic_partitions("organizations") == ["org-c", "org-a"]
        other = SqliteEventLogStorage(str(home / "history" / "runs"))
        try:
            assert not ours.has_dynamic_partition("organizations", "org-b")
            other.add_dynamic_partitions("organizations", ["org-b"])
            assert ours.has_dynamic_partition("organizations", "org-b")
            assert ours.get_dynamic_partitions("organizations") == ["org-c", "org-a", "org-b"]
            other.delete_dynamic_partition("organizations", "org-a")
            assert not ours.has_dynamic_partition("organizations", "org-a")
            assert ours.get_dynamic_partitions("organizations") == ["org-c", "org-b"]
            other.add_dynamic_partitions("other-definition", ["x"])
            assert ours.get_dynamic_partitions("other-definition") == ["x"]
            assert ours.get_dynamic_partitions("organizations") == ["org-c", "org-b"]
        finally:
            other.dispose()
        ours.delete_dynamic_partition("organizations", "org-c")
        ours.add_dynamic_partitions("organizations", ["org-d"])
        assert instance.get_dynamic_partitions("organizations") == ["org-b", "org-d"]
        assert [instance.has_dynamic_partition("organizations", k) for k in ("org-c", "org-d")] == [False, True]
        assert ours.get_dynamic_partitions("empty") == []


def test_the_asset_row_holds_the_latest_materialization_across_runs_and_after_a_wipe(home):
    """``asset_keys`` is updated in place (UPDATE first, INSERT only for a new asset):
    Dagster's own storage reads the latest run's materialization as the asset's last one,
    a wiped asset has none until it is materialized again."""
    ranged = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = dg.materialize([thing], instance=instance, tags=ranged).run_id
        second = dg.materialize([thing], instance=instance, tags=ranged).run_id
        stock = SqliteEventLogStorage(str(home / "history" / "runs"))
        try:
            record = stock.get_asset_records([dg.AssetKey("thing")])[0]
            assert record.asset_entry.last_materialization_record.run_id == second != first
            instance.wipe_assets([dg.AssetKey("thing")])
            assert stock.get_asset_records([dg.AssetKey("thing")]) == []
            third = dg.materialize([thing], instance=instance, partition_key="b").run_id
            record = stock.get_asset_records([dg.AssetKey("thing")])[0]
            assert record.asset_entry.last_materialization_record.run_id == third
            assert record.asset_entry.last_materialization_record.partition_key == "b"
        finally:
            stock.dispose()


def test_a_ranged_outputs_materializations_are_stored_as_one_batch(home, monkeypatch):
    """With ``DAGSTER_EVENT_BATCH_SIZE`` (set from the settings when the home is prepared),
    Dagster hands the storage a ranged output's materializations (and a run's planned events)
    as batches; the pooled storage writes each batch in one transaction per shard, and
    Dagster's own storage reads every partition's materialization back."""
    import os

    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "200"  # prepare_dagster_home applied the default
    batches: list[list[str]] = []
    original = PooledSqliteEventLogStorage.store_event_batch

    def spy(self, events):
        batches.append([e.dagster_event_type.value for e in events])
        original(self, events)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event_batch", spy)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([thing], instance=instance,
                                tags={"dagster/asset_partition_range_start": "a",
                                      "dagster/asset_partition_range_end": "c"})
        assert result.success
    assert ["ASSET_MATERIALIZATION"] * 3 in batches
    assert ["ASSET_MATERIALIZATION_PLANNED"] * 3 + ["ASSET_CHECK_EVALUATION_PLANNED"] in batches
    stored = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_records_for_run(result.run_id, limit=1000).records:
            event = record.event_log_entry.dagster_event
            if event is not None and event.event_type_value.startswith(("ASSET_MATERIALIZATION", "ASSET_CHECK")):
                stored.append((event.event_type_value, event.partition))
    planned = [p for t, p in stored if t == "ASSET_MATERIALIZATION_PLANNED"]
    assert sorted(planned) == ["a", "b", "c"]
    assert [t for t, _ in stored].index("ASSET_CHECK_EVALUATION_PLANNED") > max(
        i for i, (t, _) in enumerate(stored) if t == "ASSET_MATERIALIZATION_PLANNED")  # order kept
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        records = stock.fetch_materializations(dg.AssetKey("thing"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["a", "b", "c"]
        assert all(r.asset_materialization.metadata["rows"].value == 1 for r in records)
        latest = stock.get_asset_records([dg.AssetKey("thing")])[0].asset_entry.last_materialization_record
        assert latest.run_id == result.run_id
        assert latest.storage_id == max(r.storage_id for r in records)
    finally:
        stock.dispose()


def _check_rows(index_db):
    import sqlite3

    with sqlite3.connect(index_db) as db:
        return db.execute("SELECT asset_key, check_name, partition, run_id, execution_status, evaluation_event, "
                          "evaluation_event_storage_id, materialization_event_storage_id "
                          "FROM asset_check_executions ORDER BY partition").fetchall()


@pytest.fixture
def homes(tmp_path, home):
    """(name, Dagster home) of the embedded home (the pooled event log) and of a home on
    Dagster's stock SQLite storage, to compare what they store."""
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return [("pooled", home), ("stock", stock)]


RANGED = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"}


def test_check_executions_are_the_rows_dagsters_own_storage_writes(homes):
    """The same ranged run on the pooled storage and on Dagster's stock SQLite storage leaves
    the same ``asset_check_executions`` rows (status, partition, the stored evaluation event
    and the materialization it targets), whose evaluation event ids point at the stored
    evaluations: what the UI's per-partition check status reads."""
    import re
    import sqlite3

    from dagster._serdes import deserialize_value

    ranged = RANGED
    rows = {}
    for name, where in homes:
        with dg.DagsterInstance.from_config(str(where)) as instance:
            assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage) == (name == "pooled")
            run_id = dg.materialize([thing], instance=instance, tags=ranged).run_id
            materializations = {r.partition_key: r.storage_id for r in instance.fetch_materializations(
                dg.AssetKey("thing"), limit=10).records}
            evaluations = {r.event_log_entry.dagster_event.event_specific_data.partition: r.event_log_entry
                           for r in instance.get_records_for_run(run_id).records
                           if r.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION}
        index_db = where / "history" / "runs" / "index.db"
        found = _check_rows(index_db)
        with sqlite3.connect(index_db) as db:  # the evaluations mirrored in the index shard
            mirrored = dict(db.execute("SELECT id, event FROM event_logs WHERE dagster_event_type = ?",
                                       ("ASSET_CHECK_EVALUATION",)).fetchall())
            stamps = [r[0] for r in db.execute(
                "SELECT timestamp FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION' UNION ALL "
                "SELECT evaluation_event_timestamp FROM asset_check_executions")]
        with sqlite3.connect(where / "history" / "runs" / f"{run_id}.db") as db:
            stamps += [r[0] for r in db.execute(
                "SELECT timestamp FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION'")]
        assert len(stamps) == 9 and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", t) for t in stamps), stamps
        assert [r[3] for r in found] == [run_id] * 3
        for row in found:
            stored = deserialize_value(row[5])
            assert stored.dagster_event.event_specific_data == evaluations[row[2]].dagster_event.event_specific_data
            assert deserialize_value(mirrored[row[6]]).dagster_event.event_specific_data.partition == row[2]
        rows[name] = [(r[0], r[1], r[2], r[4], r[7] is not None and r[7] == materializations[r[2]]) for r in found]
    assert rows["pooled"] == rows["stock"]
    assert rows["pooled"] == [('["thing"]', "ok", "a", "SUCCEEDED", True), ('["thing"]', "ok", "b", "FAILED", True),
                              ('["thing"]', "ok", "c", "SUCCEEDED", True)]


def test_an_evaluation_without_a_planned_row_is_inserted(tmp_path, home):
    """An evaluation whose run planned nothing on this instance (a step launcher's external
    instance) gets its own execution row, as in Dagster's storage, instead of updating none."""
    ranged = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = dg.materialize([thing], instance=instance, tags=ranged).run_id
        evaluation = next(r.event_log_entry for r in instance.get_records_for_run(run_id).records
                          if r.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    other = PooledSqliteEventLogStorage(str(tmp_path / "other"))
    try:
        other.store_event(evaluation)
        history = other.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("thing"), "ok"), limit=10)
        assert [(h.run_id, h.status, h.event.dagster_event.event_specific_data.partition) for h in history] == [
            (run_id, AssetCheckExecutionRecordStatus.SUCCEEDED, "a")]
    finally:
        other.dispose()


def test_the_asset_row_after_a_batch_is_the_one_dagsters_own_storage_leaves(homes):
    """A batch's materializations update the asset's ``asset_keys`` row once (the last event
    of each type); the row is what Dagster's stock storage leaves after storing them one by
    one: the last materialization (its storage id, run and partition), the last run id and
    the last event's timestamp, through two ranged runs."""
    import sqlite3
    from datetime import datetime, timezone

    from dagster._serdes import deserialize_value

    ranged = RANGED
    rows = {}
    for name, where in homes:
        with dg.DagsterInstance.from_config(str(where)) as instance:
            runs = [dg.materialize([thing], instance=instance, tags=ranged).run_id for _ in range(2)]
            newest = max(instance.fetch_materializations(dg.AssetKey("thing"), limit=10).records,
                         key=lambda r: r.storage_id)
        with sqlite3.connect(where / "history" / "runs" / "index.db") as db:
            (last, run_id, timestamp), = db.execute(
                "SELECT last_materialization, last_run_id, last_materialization_timestamp FROM asset_keys").fetchall()
        record = deserialize_value(last)
        assert record.storage_id == newest.storage_id and record.partition_key == newest.partition_key
        assert run_id == runs[1] == record.run_id
        stamp = datetime.fromisoformat(timestamp).replace(tzinfo=timezone.utc).timestamp()
        assert abs(stamp - record.timestamp) < 1e-3, "the last event's time (the last materialization's)"
        rows[name] = record.event_log_entry.dagster_event_type
    assert rows["pooled"] == rows["stock"]


def test_the_checks_target_what_reading_the_materializations_back_gives(home):
    """What the pooled storage remembers of a ranged run's materializations (run, storage id,
    timestamp per partition) is what reading them back from the event log gives; another
    run, or a partition it did not store, is read back."""
    from enrichment_assets.checks._stage import latest_materializations

    ranged = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = dg.materialize([thing], instance=instance, tags=ranged).run_id
        second = dg.materialize([thing], instance=instance, tags=ranged).run_id
        read_back = latest_materializations(instance, "thing", ["a", "b", "c"])
        assert {t.run_id for t in read_back.values()} == {second}
        assert latest_materializations(instance, "thing", ["a", "b", "c"], second) == read_back
        assert instance.event_log_storage.run_materializations(first, dg.AssetKey("thing")).keys() == {"a", "b", "c"}
        assert instance.event_log_storage.run_materializations("another-run", dg.AssetKey("thing")) == {}
        # the first run's are not the latest: asked for that run, its own are given
        of_first = latest_materializations(instance, "thing", ["a"], first)
        assert of_first["a"].run_id == first and of_first["a"].storage_id < read_back["a"].storage_id
        assert latest_materializations(instance, "thing", ["a", "x"], second) == {"a": read_back["a"]}
