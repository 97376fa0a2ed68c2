"""``new_scrape_sensor``: a run per new scrape file in the landing folder."""

import dagster as dg

from enrichment_assets.automation.jobs import enrich_organization_job
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.discovery import plan_new_scrapes
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.settings import sensor_interval_s


@dg.sensor(
    job=enrich_organization_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches <landing>/<organization>/*.jsonl. Adds the organization's partition when it is "
        "new and requests one run of the whole flow per new scrape file (run key = the file's "
        "sha256). The cursor holds the sha256s already requested."
    ),
)
def new_scrape_sensor(context: dg.SensorEvaluationContext, landing: LandingResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(organizations.name))
    plan = plan_new_scrapes(landing.root, known, context.cursor)
    for problem in plan.invalid_folders:
        context.log.warning(f"landing folder ignored: {problem}")
    requests = [
        dg.RunRequest(
            run_key=scrape.sha256,
            partition_key=scrape.organization,
            tags={"enrichment/scrape_file": str(scrape.path), "enrichment/scrape_sha256": scrape.sha256},
        )
        for scrape in plan.new_files
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[organizations.build_add_request(plan.new_organizations)]
        if plan.new_organizations else [],
        cursor=plan.cursor,
        skip_reason=None if requests else "no new scrape files",
    )
