"""Run requests for a contiguous range of organization partitions."""

import dagster as dg
# RunRequest has no partition-range argument in Dagster 1.13: a ranged run is a run with
# these two tags (what asset backfills and declarative automation send; the public
# ``RunRequest.partition_key_range`` property reads them back).
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG


def partition_range_request(first: str, last: str, run_key: str | None, tags: dict[str, str]) -> dg.RunRequest:
    """A run of the partitions ``first`` to ``last`` (the partitions definition's order,
    both included): ``partition_key`` for one partition (Dagster validates it when the
    sensor or schedule is evaluated), the two range tags for several (their keys are
    resolved when the run starts, after the tick's new partitions were added)."""
    if first == last:
        return dg.RunRequest(run_key=run_key, partition_key=first, tags=tags)
    return dg.RunRequest(run_key=run_key, tags={
        **tags, ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
