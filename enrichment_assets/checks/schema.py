"""Schema-validity checks: every stored row of a partition validates against its model."""

from __future__ import annotations

from enrichment_assets.checks._stage import StageCheck
from enrichment_assets.pipeline.gates import GateResult
from enrichment_assets.pipeline.validation import ValidationReport, validate_asset_rows_many

ASSET_NAMES = ("raw_records", "normalized_records", "llm_profiles", "quality_scores", "translations")
#: issue 4 names the profile schema check profiles_schema_valid
CHECK_NAMES = {"llm_profiles": "profiles_schema_valid"}


def _schema_gate(report: ValidationReport) -> GateResult:
    return GateResult(
        passed=not report.invalid, severity="ERROR",
        description=f"{len(report.invalid)} of {report.checked} stored rows invalid",
        metadata={"checked_rows": report.checked, "invalid_rows": len(report.invalid),
                  "invalid_record_ids": [rid for rid, _ in report.invalid[:100]]},
        offending=[{"record": rid, "error": err} for rid, err in report.invalid[:10]])


def _schema_check(asset_name: str) -> StageCheck:
    def evaluate_many(engine, organizations, thresholds, run_id: str) -> dict[str, GateResult]:
        return {org: _schema_gate(report)
                for org, report in validate_asset_rows_many(engine, asset_name, organizations).items()}

    return StageCheck(
        name=CHECK_NAMES.get(asset_name, f"{asset_name}_schema_valid"), asset=asset_name,
        evaluate_many=evaluate_many,
        stops_org=True,
        description=(f"Every stored {asset_name} row of the partition validates against its pydantic model. "
                     "ERROR stops this organization's downstream stages in the run (not the others')."))


schema_checks = [_schema_check(name) for name in ASSET_NAMES]
