"""``llm_profiles``: one adoption profile or one explicit status per listing."""

import dagster as dg
from pydantic import Field

from enrichment_assets.assets._metadata import log_call_problems, md_table, percentile
from enrichment_assets.assets.normalized import normalized_records
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.partitions import MODEL_POOL, organizations
from enrichment_assets.pipeline.hallucination import evaluate_profiles
from enrichment_assets.pipeline.profiles import profile_organization
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.settings import get_settings
from enrichment_assets.storage.locks import exclusive


class ProfileRunConfig(dg.Config):
    """Run options of ``llm_profiles`` (``enrichment run --limit/--force`` set them; the
    launchpad accepts them too)."""

    limit: int | None = Field(default=None, ge=0, description="send at most this many listings of the partition "
                                                              "(external-id order); the rest wait for the next run")
    force: bool = Field(default=False, description="send up-to-date listings too (still one row per listing)")


def profiles_code_version() -> str:
    """Default prompt version and model: editing either marks profiles stale in the UI."""
    model = get_settings().llm_model
    return f"prompt={load_prompt_config('default').prompt_version};model={model}"


@dg.asset(
    partitions_def=organizations,
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
        "quarantined attempt never replaces it. No placeholder text, ever."
    ),
)
def llm_profiles(context: dg.AssetExecutionContext, config: ProfileRunConfig, database: DatabaseResource,
                 llm: LLMResource) -> dg.MaterializeResult:
    org = context.partition_key
    options = config
    config = load_prompt_config(org)
    client = llm.client_for_run(database.engine)
    with exclusive(database.engine, f"model-stage:{org}", wait_s=client.settings.deadline_s):
        result = profile_organization(database.engine, org, client, config, force=options.force,
                                      limit=options.limit)
    if result.interrupted:
        raise dg.Failure(description=f"stopped by a signal: {result.interrupted} listings not started; "
                                     f"{result.written} answers stored", allow_retries=False)
    rules = evaluate_profiles(database.engine, org)
    exhausted = log_call_problems(context, result.statuses, result.failures, client.budget_message(), "profile")
    eligible = result.listings - result.statuses.get("insufficient_source", 0) - result.statuses.get("not_a_dog", 0)
    ok = result.statuses.get("ok", 0)
    profiles_made = len(result.latencies_ms)
    return dg.MaterializeResult(metadata={
        "listings": result.listings,
        "statuses": dg.MetadataValue.json(result.statuses),
        "published": result.published,
        "newly_published": result.newly_published,
        "quarantined": result.statuses.get("quarantined", 0),
        "success_rate": round(ok / eligible, 4) if eligible else 1.0,
        "failure_classes": dg.MetadataValue.json(result.failure_classes),
        "reused_without_call": result.reused,
        "deferred_by_limit": result.deferred,
        "limit": options.limit if options.limit is not None else "none",
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
        "llm_settings": dg.MetadataValue.json(llm.describe()),
        "model_mix": dg.MetadataValue.json(result.models),
        "prompt_version": config.prompt_version,
        "rows_written": result.written,
        "profiles_with_rule_errors": rules.with_errors,
        "rules_reused_without_checking": rules.reused,
        "violations_by_rule": dg.MetadataValue.json(rules.by_rule),
        "preview": md_table(result.preview),
    })
