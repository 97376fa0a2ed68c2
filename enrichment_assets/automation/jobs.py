"""Jobs: the whole flow per organization, and the re-profile flow from llm_profiles down.

Both carry the tag ``enrichment/llm=true`` (for filtering runs). How many model steps run at
once across runs is limited by the concurrency pool ``model``
(:data:`enrichment_assets.partitions.MODEL_POOL`, limit in the top-level ``dagster.yaml``).
"""

import dagster as dg

LLM_TAG = {"enrichment/llm": "true"}

enrich_organization_job = dg.define_asset_job(
    name="enrich_organization",
    selection=dg.AssetSelection.all(),
    tags=LLM_TAG,
    description="Every asset (and its checks) of the run's organizations (one partition, or a range): raw -> normalized -> profiles -> scores, translations.",
)

reprofile_job = dg.define_asset_job(
    name="reprofile",
    selection=dg.AssetSelection.assets("llm_profiles").downstream(),
    tags=LLM_TAG,
    description=(
        "llm_profiles and everything downstream for one organization. Profiling is incremental, "
        "so only listings whose content, prompt version or model changed (or that failed or hit "
        "the budget) are sent to the model."
    ),
)
