"""Run requests for a contiguous range of organization partitions."""

import dagster as dg

from enrichment_assets.partitions import run_selection


def range_run_request(keys: list[str], run_key: str, tags: dict[str, str]) -> dg.RunRequest:
    """A run of ``keys`` (contiguous in registration order): ``partition_key`` for one key
    (Dagster validates it when the sensor or schedule is evaluated), the partition-range
    tags for several (Dagster 1.13's ``RunRequest`` has no range argument; the tags are what
    asset backfills send, ``RunRequest.partition_key_range`` reads them, and the keys are
    resolved when the run starts, after the tick's new partitions were added)."""
    selection = run_selection(keys)
    return dg.RunRequest(run_key=run_key, partition_key=selection.get("partition_key"),
                         tags={**tags, **selection.get("tags", {})})
