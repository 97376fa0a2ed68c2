"""``raw_records``: new scrape files of each organization, validated against the contract."""

import dagster as dg

from enrichment_assets.assets._metadata import md_table
from enrichment_assets.checks import check_specs, checks_for
from enrichment_assets.checks._stage import run_stage_checks
from enrichment_assets.partitions import backfill_policy, organizations
from enrichment_assets.pipeline import progress
from enrichment_assets.pipeline.raw import ingest_organizations, rejection_counts
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.settings import effective_settings_metadata


@dg.asset(
    partitions_def=organizations,
    backfill_policy=backfill_policy(),
    check_specs=check_specs("raw_records"),
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
def raw_records(context: dg.AssetExecutionContext, database: DatabaseResource, landing: LandingResource):
    organizations_ = list(context.partition_keys)
    progress.stage("ingesting", None)
    # the same for every organization of the run: what an operator checks first (secrets as (set))
    context.add_asset_metadata({**database.describe(),
                                "effective_settings": dg.MetadataValue.json(effective_settings_metadata())})
    for result in ingest_organizations(database.engine, landing.root, organizations_, run_id=context.run.run_id):
        org = result.organization
        if result.rejected:
            context.log.warning(f"{org}: {result.rejected} rejected lines; first: {result.rejection_reasons[:3]}")
        problems = result.quarantined + result.held + result.skipped
        for problem in problems[:10]:
            context.log.warning(f"{org}: {problem[:1000]}")
        context.add_asset_metadata({
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
            "file_problems": md_table([{"problem": p} for p in problems[:20]], 300),
        }, partition_key=org)
    yield dg.MaterializeResult()
    yield from run_stage_checks(context, checks_for("raw_records"), database.engine, organizations_, None)
