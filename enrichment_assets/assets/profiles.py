"""``llm_profiles``: one adoption profile or one explicit status per listing."""

import dagster as dg
from pydantic import Field

from enrichment_assets.assets._metadata import log_call_problems, md_table, percentile, record_stopped, stage_partitions
from enrichment_assets.assets.normalized import normalized_records
from enrichment_assets.llm.prompts import load_prompt_config, load_prompt_configs
from enrichment_assets.checks import check_specs, checks_for
from enrichment_assets.checks._stage import run_stage_checks
from enrichment_assets.partitions import MODEL_POOL, backfill_policy, organizations
from enrichment_assets.pipeline import progress
from enrichment_assets.pipeline.hallucination import evaluate_profiles
from enrichment_assets.pipeline.profiles import profile_organizations
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.settings import get_settings
from enrichment_assets.storage.locks import exclusive_all


class ProfileRunConfig(dg.Config):
    """Run options of ``llm_profiles`` (``enrichment run --limit/--force`` set them; the
    launchpad accepts them too)."""

    limit: int | None = Field(default=None, ge=0, description="send at most this many listings of each partition "
                                                              "(external-id order); the rest wait for the next run")
    limits: dict[str, int] = Field(default_factory=dict, description="organization -> at most this many listings "
                                                                     "sent (wins over `limit` for that partition)")
    force: bool = Field(default=False, description="send up-to-date listings too (still one row per listing)")


def profiles_code_version() -> str:
    """Default prompt version and model: editing either marks profiles stale in the UI."""
    model = get_settings().llm_model
    return f"prompt={load_prompt_config('default').prompt_version};model={model}"


@dg.asset(
    partitions_def=organizations,
    backfill_policy=backfill_policy(),
    check_specs=check_specs("llm_profiles"),
    pool=MODEL_POOL,  # at most the pool's limit of model steps at once, across runs (dagster.yaml)
    group_name="enrich",
    kinds={"sql", "litellm"},
    deps=[normalized_records],
    code_version=profiles_code_version(),
    description=(
        "Adoption profiles written through LiteLLM (default model offline/rules: rule-based, not "
        "an LLM). Incremental: only listings whose content, prompt version or model changed are "
        "sent; answers are stored as they arrive. Every listing's latest attempt has one status: ok, "
        "quarantined (breaks an ERROR rule; kept for review, never published), insufficient_source, "
        "not_a_dog, failed, budget_exhausted. The published profile is kept apart: a failed or "
        "quarantined attempt never replaces it. No placeholder text, ever. All organizations of a "
        "run share one model client (one concurrency limit, rate limiter and run budget)."
    ),
)
def llm_profiles(context: dg.AssetExecutionContext, config: ProfileRunConfig, database: DatabaseResource,
                 llm: LLMResource, thresholds: CheckThresholds):
    options = config
    go, stopped = stage_partitions(context)
    record_stopped(context, stopped)
    configs = load_prompt_configs(go)
    client = llm.client_for_run(database.engine)
    limits = {org: options.limits.get(org, options.limit) for org in go}
    progress.stage("profiling", None)
    with exclusive_all(database.engine, [f"model-stage:{org}" for org in go], wait_s=client.settings.deadline_s):
        results = profile_organizations(database.engine, go, client, configs, on_progress=progress.advance,
                                        force=options.force, limits=limits)
    interrupted = sum(r.interrupted for r in results.values())
    if interrupted:
        raise dg.Failure(description=f"stopped by a signal: {interrupted} listings not started; "
                                     f"{sum(r.written for r in results.values())} answers stored",
                         allow_retries=False)
    settings_shown = dg.MetadataValue.json(llm.describe())  # the same for every organization of the run
    for org, result in results.items():
        context.add_asset_metadata({**_metadata(result, evaluate_profiles(database.engine, org), configs[org],
                                                context, client, options, limits[org]),
                                    "llm_settings": settings_shown}, partition_key=org)
    yield dg.MaterializeResult()
    yield from run_stage_checks(context, checks_for("llm_profiles"), database.engine, go, thresholds)


def _metadata(result, rules, config, context, client, options: ProfileRunConfig, limit: int | None) -> dict:
    """One organization's materialization metadata."""
    exhausted = log_call_problems(context, result.statuses, result.failures, client.budget_message(), "profile")
    eligible = result.listings - result.statuses.get("insufficient_source", 0) - result.statuses.get("not_a_dog", 0)
    ok = result.statuses.get("ok", 0)
    profiles_made = len(result.latencies_ms)
    return {
        "listings": result.listings,
        "statuses": dg.MetadataValue.json(result.statuses),
        "published": result.published,
        "newly_published": result.newly_published,
        "quarantined": result.statuses.get("quarantined", 0),
        "success_rate": round(ok / eligible, 4) if eligible else 1.0,
        "failure_classes": dg.MetadataValue.json(result.failure_classes),
        "reused_without_call": result.reused,
        "deferred_by_limit": result.deferred,
        "limit": limit if limit is not None else "none",
        "forced": options.force,
        "calls": result.calls,
        "retries": result.retries,
        "rate_limited": result.rate_limited,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": round(result.cost_usd, 6),
        "budget_exhausted": exhausted,
        "cost_per_profile_usd": round(result.cost_usd / profiles_made, 6) if profiles_made else 0.0,
        "cost_unknown_calls": result.cost_unknown,
        "latency_p50_ms": percentile(result.latencies_ms, 0.5),
        "latency_p95_ms": percentile(result.latencies_ms, 0.95),
        "model_requested": client.settings.model,
        "model_mix": dg.MetadataValue.json(result.models),
        "prompt_version": config.prompt_version,
        "rows_written": result.written,
        "profiles_with_rule_errors": rules.with_errors,
        "rules_reused_without_checking": rules.reused,
        "violations_by_rule": dg.MetadataValue.json(rules.by_rule),
        "preview": md_table(result.preview),
    }
