"""Alert sensors: failed asset checks (ERROR and WARN) and failed runs become alerts.

Open-source Dagster has no asset-check alert sensor; this one reads failed evaluations
with ``event_log_storage.get_asset_check_execution_history`` (works on SQLite and
PostgreSQL storage) and keeps, per check, a watermark of record ids in its cursor.
"""

import json

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from enrichment_assets.pipeline.alerts import Alert, alert_urls, deliver_pending, store_alerts
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.settings import sensor_interval_s

HISTORY_LIMIT = 200


def _summary(evaluation) -> str:
    parts = [evaluation.description] if getattr(evaluation, "description", None) else []
    for key, value in list(evaluation.metadata.items())[:6]:
        text = str(getattr(value, "value", value))
        parts.append(f"{key}: {text[:200]}")
    return "; ".join(parts) or "check failed"


def failed_check_alerts(instance: dg.DagsterInstance, check_keys, cursor: dict[str, int]) -> tuple[list[Alert], dict[str, int]]:
    """Alerts for failed evaluations newer than ``cursor`` (check key -> last record id)."""
    found: list[Alert] = []
    cursor = dict(cursor)
    for key in sorted(check_keys, key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=HISTORY_LIMIT, status={AssetCheckExecutionRecordStatus.FAILED})
        watermark = cursor.get(name, 0)
        for record in sorted(records, key=lambda r: r.id):
            if record.id <= watermark or record.event is None:
                continue
            evaluation = record.event.dagster_event.event_specific_data
            found.append(Alert(
                dedupe_key=f"check:{record.id}:{name}"[:200], kind="check",
                severity=evaluation.severity.value, summary=_summary(evaluation),
                check_name=key.name, asset=key.asset_key.to_user_string(),
                partition=record.partition, run_id=record.run_id,
            ))
            cursor[name] = max(cursor.get(name, 0), record.id)
    return found, cursor


@dg.sensor(
    minimum_interval_seconds=sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Turns failed asset-check evaluations (ERROR and WARN) into alerts: stored in the database "
        "once and sent to every URL in ENRICHMENT_ALERT_URLS (apprise). Failed deliveries are "
        "retried on the next tick."
    ),
)
def check_alert_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    keys = context.repository_def.asset_graph.asset_check_keys
    new_alerts, cursor = failed_check_alerts(context.instance, keys, cursor)
    stored = store_alerts(database.engine, new_alerts)
    report = deliver_pending(database.engine, alert_urls())
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    for error in report.errors[:5]:
        context.log.warning(f"alert delivery failed: {error}")
    return dg.SkipReason(f"{stored} new alerts; {report.delivered} delivered, {report.failed} pending")


def run_partitions(tags) -> str | None:
    """The partition a run carried, or ``first..last`` of its partition range (None: neither)."""
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}..{end}" if start and end and start != end else start


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed run of this code location becomes an ERROR alert (stored and sent once).",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, database: DatabaseResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    store_alerts(database.engine, [Alert(
        dedupe_key=f"run:{run.run_id}", kind="run", severity="ERROR", summary=message[:2000],
        asset=run.job_name, partition=run_partitions(run.tags), run_id=run.run_id,
    )])
    deliver_pending(database.engine, alert_urls())
