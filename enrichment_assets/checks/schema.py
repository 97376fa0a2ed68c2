"""Schema-validity asset checks: every stored row of a partition validates against its model."""


import dagster as dg

from enrichment_assets.assets import all_assets
from enrichment_assets.assets._metadata import md_table
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.validation import validate_asset_rows
from enrichment_assets.resources.database import DatabaseResource


#: issue 4 names the profile schema check profiles_schema_valid
CHECK_NAMES = {"llm_profiles": "profiles_schema_valid"}


def _schema_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    asset_name = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name=CHECK_NAMES.get(asset_name, f"{asset_name}_schema_valid"),
        partitions_def=organizations,
        blocking=True,
        description=f"Every stored {asset_name} row of the partition validates against its pydantic model.",
    )
    def check(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
        report = validate_asset_rows(database.engine, asset_name, context.partition_key)
        return dg.AssetCheckResult(
            passed=not report.invalid,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "checked_rows": report.checked,
                "invalid_rows": len(report.invalid),
                "invalid_record_ids": dg.MetadataValue.json([rid for rid, _ in report.invalid[:100]]),
                "first_errors": md_table([{"record": rid, "error": err} for rid, err in report.invalid[:10]], 160),
            },
        )

    return check


schema_checks = [_schema_check(asset) for asset in all_assets]
