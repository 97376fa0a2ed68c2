"""``new_scrape_sensor``: ranged runs over the organizations with new scrape files."""

import dagster as dg

from enrichment_assets.automation.jobs import enrich_organization_job
from enrichment_assets.automation.ranges import range_run_request
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.discovery import batch_new_scrapes, plan_new_scrapes
from enrichment_assets.pipeline.raw import processed_scrape_files, record_file_stats, recorded_scrape_files
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.settings import get_settings, sensor_interval_s

#: How many ignored landing entries a tick names in its skip reason and log.
SHOWN_PROBLEMS = 10


@dg.sensor(
    job=enrich_organization_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches <landing>/<organization>/*.jsonl. Adds new organizations as partitions and "
        "requests as few runs of the whole flow as ENRICHMENT_MAX_PARTITIONS_PER_RUN allows: "
        "organizations with new files that are adjacent in partition order (insertion order; "
        "the tick's new organizations are appended) share one ranged run of at most that many "
        "partitions; an organization without new files splits a range. Ranged run requests "
        "(not an asset backfill) because a backfill chunks a non-contiguous selection into the "
        "same ranges, but drops run keys and needs the backfill daemon. Run key = "
        "<organization>:<sha256> for one organization, <first>..<last>:<sha256 of the sorted "
        "organization:sha256 lines> for several; tags name the files. A file is new when no "
        "scrape_files row has it (whether a sensor run or `enrichment run` processed it) and "
        "the cursor (requested files, per organization) does not hold it. Ignored landing "
        "entries are named in the skip reason."
    ),
)
def new_scrape_sensor(context: dg.SensorEvaluationContext, landing: LandingResource,
                      database: DatabaseResource) -> dg.SensorResult:
    known = list(context.instance.get_dynamic_partitions(organizations.name))
    processed = processed_scrape_files(database.engine)
    plan = plan_new_scrapes(landing.root, set(known), context.cursor, processed,
                            recorded_scrape_files(database.engine))
    record_file_stats(database.engine, plan.rehashed, processed)
    for problem in plan.problems[:SHOWN_PROBLEMS]:
        context.log.warning(f"landing entry ignored: {problem}")
    batches = batch_new_scrapes(plan, known, get_settings().max_partitions_per_run)
    requests = [range_run_request(list(b.organizations), b.run_key, b.tags()) for b in batches]
    skip_reason = None
    if not requests:
        skip_reason = "no new scrape files"
        if plan.problems:
            shown = "; ".join(plan.problems[:SHOWN_PROBLEMS])
            more = len(plan.problems) - SHOWN_PROBLEMS
            skip_reason += f"; ignored: {shown}" + (f"; and {more} more" if more > 0 else "")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[organizations.build_add_request(plan.new_organizations)]
        if plan.new_organizations else [],
        cursor=plan.cursor,
        skip_reason=skip_reason,
    )
