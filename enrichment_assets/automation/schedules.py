"""``weekly_reprofile_schedule``: a scheduled backfill of every organization partition."""

import dagster as dg

from enrichment_assets.automation.jobs import reprofile_job
from enrichment_assets.automation.ranges import range_run_request
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.batching import contiguous_chunks
from enrichment_assets.settings import Settings, get_settings

#: Default: Mondays 03:00 UTC; override with ENRICHMENT_REPROFILE_CRON (read at load time).
DEFAULT_REPROFILE_CRON = Settings.model_fields["reprofile_cron"].default


def reprofile_run_requests(partition_keys: list[str], tick: str, max_per_run: int) -> list[dg.RunRequest]:
    """Every partition in ranged runs of at most ``max_per_run`` partitions.

    ``partition_keys`` in insertion order (``instance.get_dynamic_partitions``), so each
    chunk is a contiguous range; ``ceil(len / max_per_run)`` requests. The run key (tick and
    the chunk's first and last organization) makes a tick idempotent.
    """
    return [
        range_run_request(chunk, run_key=f"reprofile:{tick}:{chunk[0]}..{chunk[-1]}",
                          tags={"enrichment/trigger": "weekly_reprofile_schedule",
                                "enrichment/organizations": str(len(chunk))})
        for chunk in contiguous_chunks(partition_keys, partition_keys, max_per_run)
    ]


@dg.schedule(
    job=reprofile_job,
    cron_schedule=get_settings().reprofile_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Requests llm_profiles and everything downstream for every organization partition (a "
        "scheduled partition backfill) in ranged runs of at most ENRICHMENT_MAX_PARTITIONS_PER_RUN "
        "partitions (insertion order), run key = tick and range. Listings already profiled with the current content, "
        "prompt and model cost nothing; failed and budget-stopped ones are attempted again."
    ),
)
def weekly_reprofile_schedule(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(organizations.name)
    if not keys:
        return dg.SkipReason("no organization partitions registered yet")
    tick = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    return reprofile_run_requests(list(keys), tick, get_settings().max_partitions_per_run)
