"""``raw_records``: new scrape files of an organization, validated against the contract."""

import dagster as dg

from enrichment_assets.assets._metadata import md_table
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.raw import ingest_organization, rejection_counts
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.settings import effective_settings_metadata


@dg.asset(
    partitions_def=organizations,
    group_name="ingest",
    kinds={"sql", "json"},
    description=(
        "Listings of one organization from its new scrape files in the landing folder. Each line "
        "is validated against the scrape contract; accepted listings are upserted, every rejected "
        "line is stored with its reason. A healthy full scrape marks missing listings as removed; "
        "an untrusted file (invalid header, no or too few accepted listings) is quarantined and "
        "removes nothing, and a sudden drop is held for confirmation."
    ),
)
def raw_records(context: dg.AssetExecutionContext, database: DatabaseResource,
                landing: LandingResource) -> dg.MaterializeResult:
    result = ingest_organization(database.engine, landing.root, context.partition_key, run_id=context.run.run_id)
    if result.rejected:
        context.log.warning(f"{result.rejected} rejected lines; first: {result.rejection_reasons[:3]}")
    for problem in (result.quarantined + result.held + result.skipped)[:10]:
        context.log.warning(problem[:1000])
    return dg.MaterializeResult(metadata={
        "scrape_files": dg.MetadataValue.json(result.files[:100]),
        "lines": result.lines,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "cut": result.cut,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "held_removals": result.held_removals,
        "quarantined_files": len(result.quarantined),
        "active_listings": result.active_listings,
        "rejections_by_field": dg.MetadataValue.json(rejection_counts(result)),
        "rejections": md_table([{"reason": r} for r in result.rejection_reasons[:10]], 160),
        "file_problems": md_table([{"problem": p} for p in (result.quarantined + result.held + result.skipped)[:20]], 300),
        **database.describe(),
        # the configuration this run used (secrets as (set)): what an operator checks first
        "effective_settings": dg.MetadataValue.json(effective_settings_metadata()),
    })
