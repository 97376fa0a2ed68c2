"""``translations``: profile text in the organization's target languages."""

import dagster as dg

from enrichment_assets.assets._metadata import log_call_problems, md_table
from enrichment_assets.assets.profiles import llm_profiles
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.partitions import MODEL_POOL, organizations
from enrichment_assets.pipeline.hallucination import evaluate_translations
from enrichment_assets.pipeline.translations import translate_organization
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.storage.locks import exclusive


@dg.asset(
    partitions_def=organizations,
    pool=MODEL_POOL,  # at most the pool's limit of model steps at once, across runs (dagster.yaml)
    group_name="publish",
    kinds={"sql", "litellm"},
    deps=[llm_profiles],
    description=(
        "Tagline and description of every published profile in the target languages of the "
        "organization's prompt file (prompts/organizations/<org>.yaml, else the default). Profiles "
        "that violate an ERROR hallucination rule are stored as blocked_by_check, not translated."
    ),
)
def translations(context: dg.AssetExecutionContext, database: DatabaseResource,
                 llm: LLMResource) -> dg.MaterializeResult:
    org = context.partition_key
    config = load_prompt_config(org)
    client = llm.client_for_run(database.engine)
    with exclusive(database.engine, f"model-stage:{org}", wait_s=client.settings.deadline_s):
        result = translate_organization(database.engine, org, client, config)
    if result.interrupted:
        raise dg.Failure(description=f"stopped by a signal: {result.interrupted} translations not started; "
                                     f"{result.written} answers stored", allow_retries=False)
    rules = evaluate_translations(database.engine, org)
    exhausted = log_call_problems(context, result.statuses, result.failures, client.budget_message(), "translation")
    return dg.MaterializeResult(metadata={
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
        "translations_with_rule_errors": rules.with_errors,
        "rules_reused_without_checking": rules.reused,
        "violations_by_rule": dg.MetadataValue.json(rules.by_rule),
        "rows_deleted": result.deleted,
        "preview": md_table(result.preview),
    })
