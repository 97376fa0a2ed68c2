"""The one partitioning of every asset: one partition per rescue organization."""

import dagster as dg

organizations = dg.DynamicPartitionsDefinition(name="organizations")

MODEL_POOL = "model"
"""The Dagster concurrency pool of the steps that call a model (``llm_profiles``,
``translations``). Its limit is the instance's (the top-level ``dagster.yaml`` sets
``concurrency.pools.default_limit``; ``dagster instance concurrency set model N`` overrides it);
the embedded default instance sets none, so the pool is unlimited there."""
