"""``quality_scores``: a rubric score per profile with a needs_review flag."""

import dagster as dg

from enrichment_assets.assets._metadata import record_stopped, stage_partitions
from enrichment_assets.assets.profiles import llm_profiles
from enrichment_assets.checks import check_specs, checks_for
from enrichment_assets.checks._stage import run_stage_checks
from enrichment_assets.llm.prompts import load_prompt_configs
from enrichment_assets.partitions import backfill_policy, organizations
from enrichment_assets.pipeline import progress
from enrichment_assets.pipeline.quality import score_organizations
from enrichment_assets.pipeline.review import queue_sizes
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.thresholds import CheckThresholds


@dg.asset(
    partitions_def=organizations,
    backfill_policy=backfill_policy(),
    check_specs=check_specs("quality_scores"),
    group_name="enrich",
    kinds={"sql"},
    deps=[llm_profiles],
    description="Rubric score (0-100) per ok profile with named components and needs_review reasons; "
                "review_queue: listings waiting for `enrichment review` (quarantined or needs_review).",
)
def quality_scores(context: dg.AssetExecutionContext, database: DatabaseResource, thresholds: CheckThresholds):
    go, stopped = stage_partitions(context)
    record_stopped(context, stopped)
    configs = load_prompt_configs(go)
    progress.stage("scoring", None)
    results = score_organizations(database.engine, {org: configs[org].cliches for org in go})
    queue = queue_sizes(database.engine, go)
    for result in results:
        org = result.organization
        context.add_asset_metadata({
            "scored": result.scored,
            "reused_without_scoring": result.reused,
            "mean_score": result.mean if result.mean is not None else 0.0,
            "min_score": min(result.scores) if result.scores else 0.0,
            "needs_review": result.needs_review,
            "median_score": result.median if result.median is not None else 0.0,
            "review_reasons": dg.MetadataValue.json(result.reasons),
            "rows_written": result.written,
            "rows_deleted": result.deleted,
            "review_queue": queue[org],
        }, partition_key=org)
        progress.advance(result.scored)
    yield dg.MaterializeResult()
    yield from run_stage_checks(context, checks_for("quality_scores"), database.engine, go, thresholds)
