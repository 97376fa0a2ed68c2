"""Runs over contiguous ranges of organization partitions: run requests (sensor, schedule)
and the runs ``enrichment backfill`` launches."""

from collections.abc import Sequence

import dagster as dg

from enrichment_assets.partitions import run_selection, run_tags
from enrichment_assets.pipeline.batching import contiguous_chunks


def range_run_request(keys: list[str], run_key: str, tags: dict[str, str]) -> dg.RunRequest:
    """A run of ``keys`` (contiguous in registration order): ``partition_key`` for one key
    (Dagster validates it when the sensor or schedule is evaluated), the partition-range
    tags for several (Dagster 1.13's ``RunRequest`` has no range argument; the tags are what
    asset backfills send, ``RunRequest.partition_key_range`` reads them, and the keys are
    resolved when the run starts, after the tick's new partitions were added)."""
    selection = run_selection(keys)
    return dg.RunRequest(run_key=run_key, partition_key=selection.get("partition_key"),
                         tags={**tags, **selection.get("tags", {})})


def backfill_runs(registered: Sequence[str], selected: Sequence[str], max_per_run: int,
                  backfill_id: str) -> list[tuple[list[str], dict[str, str]]]:
    """The ranged runs of a backfill of ``selected``: (keys, run tags) per run, in
    ``registered`` order (``instance.get_dynamic_partitions``, so each run is a contiguous
    range), at most ``max_per_run`` keys each (``ENRICHMENT_MAX_PARTITIONS_PER_RUN``):
    ``ceil(len(selected) / max_per_run)`` runs when the selection is contiguous, one more per
    gap. The tags name the partitions (:func:`~enrichment_assets.partitions.run_tags`), the
    trigger (``enrichment/trigger=backfill``), the backfill (``enrichment/backfill``) and
    the number of organizations.

    Raises:
        ValueError: a selected key is not registered, or ``max_per_run`` < 1.
    """
    return [(chunk, {**run_tags(chunk), "enrichment/trigger": "backfill", "enrichment/backfill": backfill_id,
                     "enrichment/organizations": str(len(chunk))})
            for chunk in contiguous_chunks(registered, selected, max_per_run)]
