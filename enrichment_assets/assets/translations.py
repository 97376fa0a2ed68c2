"""``translations``: profile text in the organization's target languages."""

import dagster as dg

from enrichment_assets.assets._metadata import log_call_problems, md_table, record_stopped, stage_partitions
from enrichment_assets.assets.profiles import llm_profiles
from enrichment_assets.checks import check_specs, checks_for
from enrichment_assets.checks._stage import ResolvedThresholds, run_stage_checks
from enrichment_assets.checks.gates import profiles_hallucination_free
from enrichment_assets.llm.prompts import load_prompt_configs
from enrichment_assets.partitions import MODEL_POOL, backfill_policy, organizations
from enrichment_assets.pipeline import progress
from enrichment_assets.pipeline.hallucination import evaluate_translations
from enrichment_assets.pipeline.translations import translate_organizations
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.storage.locks import exclusive_all


@dg.asset(
    partitions_def=organizations,
    backfill_policy=backfill_policy(),
    check_specs=check_specs("translations"),
    pool=MODEL_POOL,  # at most the pool's limit of model steps at once, across runs (dagster.yaml)
    group_name="publish",
    kinds={"sql", "litellm"},
    deps=[llm_profiles],
    description=(
        "Tagline and description of every published profile in the target languages of the "
        "organization's prompt file (prompts/organizations/<org>.yaml, else the default). Profiles "
        "that violate an ERROR hallucination rule are stored as blocked_by_check, not translated. "
        "An organization whose profiles_hallucination_free gate is a systemic ERROR (stored "
        "violations), or that a failed schema check stopped upstream, is skipped "
        "(`stopped_by_checks`); the other organizations of the run are translated. All organizations "
        "of a run share one model client and one pool of calls (one concurrency limit, rate limiter "
        "and run budget). A failed attempt never replaces a stored ok translation."
    ),
)
def translations(context: dg.AssetExecutionContext, database: DatabaseResource, llm: LLMResource,
                 thresholds: CheckThresholds):
    go, stopped = stage_partitions(context)
    engine = database.engine
    resolved = ResolvedThresholds(thresholds)
    for org in list(go):  # the stored gate decision: a re-executed step sees it too
        gate = profiles_hallucination_free.evaluate(engine, org, resolved, context.run.run_id)
        if not gate.passed and gate.severity == "ERROR":
            stopped[org] = [profiles_hallucination_free.name]
            go.remove(org)
    for org, checks in stopped.items():
        context.log.warning(f"{org}: translations skipped, stopped by failed check(s) {', '.join(checks)}")
    record_stopped(context, stopped)
    client = llm.client_for_run(engine)
    configs = load_prompt_configs(go)
    progress.stage("planning translations of", None)
    with exclusive_all(engine, [f"model-stage:{org}" for org in go], wait_s=client.settings.deadline_s):
        results = translate_organizations(engine, go, client, configs, on_progress=progress.advance,
                                          on_planned=lambda total: progress.stage("translating", total,
                                                                                  unit="requests"))
    interrupted = sum(r.interrupted for r in results.values())
    if interrupted:
        raise dg.Failure(description=f"stopped by a signal: {interrupted} translations not started; "
                                     f"{sum(r.written for r in results.values())} answers stored",
                         allow_retries=False)
    for org, result in results.items():
        rules = evaluate_translations(engine, org)
        exhausted = log_call_problems(context, result.statuses, result.failures, client.budget_message(),
                                      "translation")
        context.add_asset_metadata({
            "languages": dg.MetadataValue.json(result.languages),
            "requested": result.requested,
            "reused_without_call": result.reused,
            "statuses": dg.MetadataValue.json(result.statuses),
            "calls": result.calls,
            "rate_limited": result.rate_limited,
            "model_mix": dg.MetadataValue.json(result.models),
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cost_usd": round(result.cost_usd, 6),
            "budget_exhausted": exhausted,
            "rows_written": result.written,
            "failed_kept_previous": result.kept_previous,
            "translations_with_rule_errors": rules.with_errors,
            "rules_reused_without_checking": rules.reused,
            "violations_by_rule": dg.MetadataValue.json(rules.by_rule),
            "rows_deleted": result.deleted,
            "preview": md_table(result.preview),
        }, partition_key=org)
    yield dg.MaterializeResult()
    yield from run_stage_checks(context, checks_for("translations"), engine, go, resolved)
