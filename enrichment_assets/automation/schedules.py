"""``weekly_reprofile_schedule``: a scheduled backfill of every organization partition."""

import dagster as dg

from enrichment_assets.automation.jobs import reprofile_job
from enrichment_assets.partitions import organizations
from enrichment_assets.settings import Settings, get_settings

#: Default: Mondays 03:00 UTC; override with ENRICHMENT_REPROFILE_CRON (read at load time).
DEFAULT_REPROFILE_CRON = Settings.model_fields["reprofile_cron"].default


def reprofile_run_requests(partition_keys: list[str], tick: str) -> list[dg.RunRequest]:
    """One run per organization; the run key (tick + organization) makes a tick idempotent."""
    return [
        dg.RunRequest(run_key=f"reprofile:{tick}:{key}", partition_key=key,
                      tags={"enrichment/trigger": "weekly_reprofile_schedule"})
        for key in sorted(partition_keys)
    ]


@dg.schedule(
    job=reprofile_job,
    cron_schedule=get_settings().reprofile_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Requests llm_profiles and everything downstream for every organization partition (a "
        "scheduled partition backfill). Listings already profiled with the current content, "
        "prompt and model cost nothing; failed and budget-stopped ones are attempted again."
    ),
)
def weekly_reprofile_schedule(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(organizations.name)
    if not keys:
        return dg.SkipReason("no organization partitions registered yet")
    tick = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    return reprofile_run_requests(keys, tick)
