"""Quality-gate asset checks per organization partition: hallucination rules, success
rate, cost, quality floor, translations. Decisions live in ``pipeline/gates.py``."""

import dagster as dg

from enrichment_assets.assets import llm_profiles, quality_scores, translations
from enrichment_assets.assets._metadata import md_table
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline import gates
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.thresholds import CheckThresholds


def _result(gate: gates.GateResult) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if gate.severity == "ERROR" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=gate.passed, severity=severity, description=gate.description,
        metadata={**{k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v) for k, v in gate.metadata.items()},
                  "first_offending": md_table(gate.offending[:20], 160)},
    )


@dg.asset_check(asset=llm_profiles, partitions_def=organizations, blocking=True,
                description="Hallucination rules on every profile the model wrote. Profiles breaking an ERROR "
                            "rule are quarantined one by one; this check is an ERROR (blocks the organization's "
                            "translations) only for a systemic rate: more than ENRICHMENT_HALLUCINATION_MAX_RATE "
                            "(25%) and at least ENRICHMENT_HALLUCINATION_MIN_PROFILES (3); WARN otherwise.")
def profiles_hallucination_free(context: dg.AssetCheckExecutionContext, database: DatabaseResource,
                                thresholds: CheckThresholds) -> dg.AssetCheckResult:
    report = gates.stored_violation_report(database.engine, context.partition_key)
    return _result(gates.hallucination_gate(report, thresholds.value("hallucination_max_error_rate"),
                                            int(thresholds.value("hallucination_min_profiles"))))


@dg.asset_check(asset=llm_profiles, partitions_def=organizations,
                description="WARN when fewer than 95% (ENRICHMENT_MIN_SUCCESS_RATE) of eligible listings have an "
                            "ok profile; ERROR below the floor (ENRICHMENT_SUCCESS_RATE_FLOOR, 50%).")
def profiles_success_rate(context: dg.AssetCheckExecutionContext, database: DatabaseResource,
                          thresholds: CheckThresholds) -> dg.AssetCheckResult:
    return _result(gates.success_rate_gate(database.engine, context.partition_key,
                                           thresholds.value("min_success_rate"),
                                           thresholds.value("success_rate_floor")))


@dg.asset_check(asset=llm_profiles, partitions_def=organizations,
                description="WARN when the mean cost per ok profile exceeds the configured ceiling (USD).")
def profiles_cost(context: dg.AssetCheckExecutionContext, database: DatabaseResource,
                  thresholds: CheckThresholds) -> dg.AssetCheckResult:
    return _result(gates.cost_gate(database.engine, context.partition_key,
                                   thresholds.value("max_cost_per_profile_usd")))


@dg.asset_check(asset=quality_scores, partitions_def=organizations,
                description="WARN when the median rubric score is below the floor or too many profiles need review.")
def quality_floor(context: dg.AssetCheckExecutionContext, database: DatabaseResource,
                  thresholds: CheckThresholds) -> dg.AssetCheckResult:
    return _result(gates.quality_gate(database.engine, context.partition_key,
                                      thresholds.value("quality_median_min"), thresholds.value("review_share_max")))


@dg.asset_check(asset=translations, partitions_def=organizations,
                description="Every ok translation is in its target language and keeps the dog's name and numbers.")
def translations_language_and_facts(context: dg.AssetCheckExecutionContext,
                                    database: DatabaseResource) -> dg.AssetCheckResult:
    return _result(gates.translation_gate(database.engine, context.partition_key))


gate_checks = [profiles_hallucination_free, profiles_success_rate, profiles_cost, quality_floor,
               translations_language_and_facts]
