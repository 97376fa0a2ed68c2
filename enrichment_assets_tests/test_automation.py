"""Schedules and alert sensors with instance_for_test and build_*_context."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from enrichment_assets.assets import all_assets
from enrichment_assets.automation.alerts import check_alert_sensor, run_failure_alert_sensor
from enrichment_assets.definitions import defs
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.alerts import Alert, deliver_pending, recent_alerts, store_alerts
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.sources.demo import import_demo
from enrichment_assets.storage.schema import alerts, translations
from enrichment_assets_tests.webhook_receiver import WebhookReceiver


def test_schedule_definition_targets_reprofile() -> None:
    """The schedule's requests (ranged runs, idempotent per tick) are tested in
    test_sensor_batching.py; here its definition."""
    schedule = defs.get_repository_def().get_schedule_def("weekly_reprofile_schedule")
    assert schedule.cron_schedule == "0 3 * * 1" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert {k.to_user_string() for k in defs.get_repository_def().get_job("reprofile")
            .asset_layer.selected_asset_keys} == {"llm_profiles", "quality_scores", "translations"}


def test_alerts_are_stored_once_and_redelivered_until_accepted(tmp_path: Path) -> None:
    engine = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}").engine
    alert = Alert(dedupe_key="check:1", kind="check", severity="ERROR", summary="3 invalid rows",
                  check_name="translations_schema_valid", asset="translations", partition="org-a")
    assert store_alerts(engine, [alert, alert]) == 1
    assert store_alerts(engine, [alert]) == 0
    with WebhookReceiver(fail_first=1) as receiver:
        first = deliver_pending(engine, [receiver.url])
        assert first.failed == 1 and receiver.received == []
        second = deliver_pending(engine, [receiver.url])
        assert second.delivered == 1
        third = deliver_pending(engine, [receiver.url])
        assert third.delivered == third.failed == 0
    assert len(receiver.received) == 1 and "translations_schema_valid" in receiver.received[0]["title"]
    table = recent_alerts(engine)
    assert len(table) == 1 and table.loc[0, "attempts"] == 2
    with engine.connect() as conn:
        stored = conn.execute(sa.select(alerts.c.delivered_to, alerts.c.last_error)).one()
    assert receiver.url not in json.dumps(stored[0]) and stored[1] is None


@pytest.fixture
def failing_translation_check(tmp_path: Path):
    """An instance with one failed translations_schema_valid evaluation for demo-paws-rescue."""
    landing = tmp_path / "landing"
    import_demo(landing)
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    resources = {"database": database, "llm": LLMResource(), "landing": LandingResource(path=str(landing)),
                 "thresholds": CheckThresholds()}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(organizations.name, ["demo-paws-rescue"])
        assert dg.materialize(all_assets, partition_key="demo-paws-rescue",
                              instance=instance, resources=resources).success
        # corrupt one stored translation: a rerun reuses it, so the schema check must catch it
        with database.engine.begin() as conn:
            conn.execute(sa.update(translations).where(translations.c.language == "de").values(tagline=""))
        rerun = dg.materialize(all_assets, partition_key="demo-paws-rescue",
                               instance=instance, resources=resources, raise_on_error=False)
        failed = [c for c in rerun.get_asset_check_evaluations() if not c.passed]
        assert "translations_schema_valid" in [c.check_name for c in failed]
        # an ERROR check stops only its organization downstream: the run itself succeeds
        assert rerun.success
        # a run that fails (its database cannot be opened), for the run-failure sensor test
        (tmp_path / "not-a-dir").write_text("", encoding="utf-8")
        broken = {**resources, "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'not-a-dir' / 'db.sqlite'}")}
        instance.failed_run = dg.materialize(all_assets, partition_key="demo-paws-rescue", instance=instance,
                                             resources=broken, raise_on_error=False)
        assert not instance.failed_run.success
        yield instance, database


def test_check_alert_sensor_alerts_once_with_cursor(failing_translation_check, monkeypatch) -> None:
    instance, database = failing_translation_check
    repo = defs.get_repository_def()
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("ENRICHMENT_ALERT_URLS", receiver.url)
        with dg.build_sensor_context(instance=instance, repository_def=repo,
                                     resources={"database": database}) as ctx:
            check_alert_sensor(ctx)
            cursor = ctx.cursor
        assert "translations_schema_valid" in cursor
        with dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor,
                                     resources={"database": database}) as again:
            check_alert_sensor(again)
        # even without the cursor, the stored dedupe key prevents a second alert
        with dg.build_sensor_context(instance=instance, repository_def=repo,
                                     resources={"database": database}) as fresh:
            check_alert_sensor(fresh)
    schema_alerts = [m for m in receiver.received if "translations_schema_valid" in m["title"]]
    assert len(schema_alerts) == 1 and len(receiver.received) == len({m["title"] for m in receiver.received})
    message = schema_alerts[0]
    assert "demo-paws-rescue" in message["title"] and "invalid_rows" in message["message"]
    with database.engine.connect() as conn:
        rows = conn.execute(sa.select(alerts.c.severity, alerts.c.partition, alerts.c.delivered_at)
                            .where(alerts.c.check_name == "translations_schema_valid")).all()
    assert len(rows) == 1 and rows[0][0] == "ERROR" and rows[0][1] == "demo-paws-rescue" and rows[0][2]


def test_run_failure_becomes_one_alert(failing_translation_check) -> None:
    instance, database = failing_translation_check
    run = instance.failed_run
    for _ in range(2):
        with dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor", dagster_instance=instance, dagster_run=run.dagster_run,
            dagster_event=run.get_run_failure_event(), resources={"database": database},
        ) as ctx:
            run_failure_alert_sensor(ctx.for_run_failure())
    with database.engine.connect() as conn:
        rows = conn.execute(sa.select(alerts.c.kind, alerts.c.run_id, alerts.c.summary)).all()
    assert len(rows) == 1 and rows[0][0] == "run" and rows[0][1] == run.run_id
    assert rows[0][2] == run.get_run_failure_event().message[:2000]
