"""The one partitioning of every asset: one partition per rescue organization."""

import dagster as dg

organizations = dg.DynamicPartitionsDefinition(name="organizations")

MODEL_POOL = "model"
"""The Dagster concurrency pool of the steps that call a model (``llm_profiles``,
``translations``). Its limit is the instance's (the top-level ``dagster.yaml`` sets
``concurrency.pools.default_limit``; ``dagster instance concurrency set model N`` overrides it);
the embedded default instance sets none, so the pool is unlimited there."""


def backfill_policy() -> dg.BackfillPolicy:
    """How many organization partitions one run of an asset carries at most
    (``ENRICHMENT_MAX_PARTITIONS_PER_RUN``, read when the definitions load). A backfill over
    more partitions is split into runs of that many; each asset processes
    ``context.partition_keys`` and records a materialization and check results per
    organization."""
    from enrichment_assets.settings import get_settings

    return dg.BackfillPolicy.multi_run(max_partitions_per_run=get_settings().max_partitions_per_run)


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def run_tags(keys: list[str]) -> dict[str, str]:
    """The run tags that name the partitions of a run over ``keys`` (contiguous in
    registration order, :func:`enrichment_assets.pipeline.batching.contiguous_chunks`): the
    partition tag for one key, the partition-range tags (first and last key) for several.
    What a run launched by tags only (``dagster job launch --tags``) carries."""
    if len(keys) == 1:
        return {PARTITION_TAG: keys[0]}
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def run_selection(keys: list[str]) -> dict:
    """Keyword arguments of ``dg.materialize`` / ``RunRequest`` for a run over ``keys``
    (contiguous in registration order, :func:`enrichment_assets.pipeline.batching.contiguous_chunks`):
    ``partition_key`` for one key (validated by Dagster), the partition-range tags for several."""
    if len(keys) == 1:
        return {"partition_key": keys[0]}
    return {"tags": run_tags(keys)}
