"""``normalized_records``: source harmonization of every active listing."""

import dagster as dg

from enrichment_assets.assets._metadata import md_table, record_stopped, stage_partitions
from enrichment_assets.assets.raw import raw_records
from enrichment_assets.checks import check_specs, checks_for
from enrichment_assets.checks._stage import run_stage_checks
from enrichment_assets.partitions import backfill_policy, organizations
from enrichment_assets.pipeline import progress
from enrichment_assets.pipeline.normalize import normalize_organizations
from enrichment_assets.resources.database import DatabaseResource


@dg.asset(
    partitions_def=organizations,
    backfill_policy=backfill_policy(),
    check_specs=check_specs("normalized_records"),
    group_name="ingest",
    kinds={"sql", "pandas"},
    deps=[raw_records],
    description=(
        "Listings harmonized across sources: species, breed, age in months, sex, size, "
        "neutered/vaccinated as yes/no/unknown (missing stays missing), fee, cleaned text, "
        "detected language and the content hash that decides re-profiling."
    ),
)
def normalized_records(context: dg.AssetExecutionContext, database: DatabaseResource):
    go, stopped = stage_partitions(context)
    record_stopped(context, stopped)
    progress.stage("normalizing", None)
    for result in normalize_organizations(database.engine, go):
        org = result.organization
        preview = [{
            "external_id": l.external_id, "name": l.name, "species": l.species, "breed": l.breed,
            "age_months": l.age_months, "sex": l.sex, "neutered": l.neutered, "language": l.language,
            "chars": len(l.description),
        } for l in result.preview]
        context.add_asset_metadata({
            "listings": result.listings,
            "normalized": result.normalized,
            "rejected": result.rejected,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            # of normalized: raw record and normalizer unchanged, so not normalized again
            "reused_without_normalizing": result.reused,
            "deleted": result.deleted,
            "species": dg.MetadataValue.json(result.species),
            "languages": dg.MetadataValue.json(result.languages),
            "rejections": md_table([{"reason": r} for r in result.rejection_reasons[:10]], 160),
            "preview": md_table(preview),
        }, partition_key=org)
        progress.advance(result.listings)
    yield dg.MaterializeResult()
    yield from run_stage_checks(context, checks_for("normalized_records"), database.engine, go, None)
