"""The one ``Definitions`` object of the code location."""

import dagster as dg

from enrichment_assets.assets import all_assets
from enrichment_assets.automation.alerts import check_alert_sensor, run_failure_alert_sensor
from enrichment_assets.automation.jobs import enrich_organization_job, reprofile_job
from enrichment_assets.automation.schedules import weekly_reprofile_schedule
from enrichment_assets.automation.sensors import new_scrape_sensor
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.resources.llm import LLMResource
from enrichment_assets.resources.thresholds import CheckThresholds
from enrichment_assets.settings import apply_dagster_event_batching


def with_settings_metadata(assets: list) -> list:
    """``assets`` with the effective settings (non-secret; keys as ``(set)``) in each asset's
    definition metadata (``enrichment/settings``), so the UI's asset pages show the
    configuration this code location loaded with. Read when the definitions load: reload the
    code location after changing the environment."""
    from enrichment_assets.settings import settings_markdown

    shown = dg.MetadataValue.md(settings_markdown())
    return list(dg.map_asset_specs(lambda spec: spec.merge_attributes(metadata={"enrichment/settings": shown}),
                                   assets))


def default_resources() -> dict:
    """Resources on their embedded defaults, overridable through environment variables."""
    return {"database": DatabaseResource(), "llm": LLMResource(), "landing": LandingResource(),
            "thresholds": CheckThresholds()}


apply_dagster_event_batching()

defs = dg.Definitions(
    assets=with_settings_metadata(all_assets),
    jobs=[enrich_organization_job, reprofile_job],
    sensors=[new_scrape_sensor, check_alert_sensor, run_failure_alert_sensor],
    schedules=[weekly_reprofile_schedule],
    resources=default_resources(),
    # One process per run: steps share the migrated engine and litellm's import, and
    # organization runs (not steps) are the unit of parallelism.
    executor=dg.in_process_executor,
)
