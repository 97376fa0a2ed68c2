"""The ``raw_records`` trust check: were the scrape files this run ingested healthy?"""

import dagster as dg

from enrichment_assets.assets import raw_records
from enrichment_assets.assets._metadata import md_table
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.raw import scrape_file_outcomes
from enrichment_assets.resources.database import DatabaseResource


@dg.asset_check(
    asset=raw_records, partitions_def=organizations, blocking=False,
    description=("ERROR when a scrape file ingested by this run was quarantined (invalid header, no "
                 "accepted listing, accepted share below the floor, refused by the database); WARN when "
                 "a full scrape's removals are held for confirmation. Not blocking: the file's valid "
                 "listings were stored and later files still ingest."),
)
def raw_records_scrape_files_healthy(context: dg.AssetCheckExecutionContext,
                                     database: DatabaseResource) -> dg.AssetCheckResult:
    files = scrape_file_outcomes(database.engine, context.partition_key, context.run.run_id)
    quarantined = [f for f in files if f["status"] == "quarantined"]
    held = [f for f in files if f["status"] == "held"]
    severity = dg.AssetCheckSeverity.ERROR if quarantined or not held else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not quarantined and not held, severity=severity,
        description=(f"{len(quarantined)} quarantined, {len(held)} held of {len(files)} scrape files "
                     "ingested by this run"),
        metadata={
            "files": len(files),
            "quarantined": len(quarantined),
            "held": len(held),
            "problems": md_table([{"file": f["file"], "status": f["status"], "reason": f["reason"]}
                                  for f in (quarantined + held)[:20]], 300),
        },
    )


ingest_checks = [raw_records_scrape_files_healthy]
