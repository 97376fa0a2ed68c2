"""``translations``: profile text in the organization's target languages."""

import dagster as dg

from enrichment_assets.assets._metadata import log_call_problems, md_table
from enrichment_assets.assets.profiles import llm_profiles
from enrichment_assets.llm.prompts import load_prompt_config
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.hallucination import evaluate_translations
from enrichment_assets.pipeline.translations import translate_organization
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.llm import LLMResource


@dg.asset(
    partitions_def=organizations,
    group_name="publish",
    kinds={"sql", "litellm"},
    deps=[llm_profiles],
    description=(
        "Tagline and description of every ok profile in the target languages of the "
        "organization's prompt file (prompts/organizations/<org>.yaml, else the default). Profiles "
        "that violate an ERROR hallucination rule are stored as blocked_by_check, not translated."
    ),
)
def translations(context: dg.AssetExecutionContext, database: DatabaseResource,
                 llm: LLMResource) -> dg.MaterializeResult:
    org = context.partition_key
    config = load_prompt_config(org)
    client = llm.client_for_run(database.engine)
    result = translate_organization(database.engine, org, client, config)
    rules = evaluate_translations(database.engine, org)
    exhausted = log_call_problems(context, result.statuses, result.failures, client.budget_message(), "translation")
    return dg.MaterializeResult(metadata={
        "languages": dg.MetadataValue.json(result.languages),
        "requested": result.requested,
        "reused_without_call": result.reused,
        "statuses": dg.MetadataValue.json(result.statuses),
        "calls": result.calls,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": round(result.cost_usd, 6),
        "budget_exhausted": exhausted,
        "rows_written": result.written,
        "translations_with_rule_errors": rules.with_errors,
        "violations_by_rule": dg.MetadataValue.json(rules.by_rule),
        "rows_deleted": result.deleted,
        "preview": md_table(result.preview),
    })
