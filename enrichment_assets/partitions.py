"""The one partitioning of every asset: one partition per rescue organization."""

import dagster as dg

organizations = dg.DynamicPartitionsDefinition(name="organizations")
