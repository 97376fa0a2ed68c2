"""``new_scrape_sensor``: one run per organization with new scrape files in the landing folder."""

import dagster as dg

from enrichment_assets.automation.jobs import enrich_organization_job
from enrichment_assets.domain.contract import bounded
from enrichment_assets.partitions import organizations
from enrichment_assets.pipeline.discovery import by_organization, plan_new_scrapes, run_key
from enrichment_assets.pipeline.raw import processed_scrape_files, record_file_stats, recorded_scrape_files
from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.resources.landing import LandingResource
from enrichment_assets.settings import sensor_interval_s

#: How many ignored landing entries a tick names in its skip reason and log.
SHOWN_PROBLEMS = 10


@dg.sensor(
    job=enrich_organization_job,
    minimum_interval_seconds=sensor_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches <landing>/<organization>/*.jsonl. Adds the organization's partition when it is "
        "new and requests one run of the whole flow per organization with new scrape files, "
        "carrying all of them (run key = <organization>:<sha256> of the file, or of the sorted "
        "file hashes when there are several). A file is new when no scrape_files row has it (whether a sensor "
        "run or `enrichment run` processed it) and the cursor (requested files, per organization) "
        "does not hold it. Ignored landing entries are named in the skip reason."
    ),
)
def new_scrape_sensor(context: dg.SensorEvaluationContext, landing: LandingResource,
                      database: DatabaseResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(organizations.name))
    processed = processed_scrape_files(database.engine)
    plan = plan_new_scrapes(landing.root, known, context.cursor, processed,
                            recorded_scrape_files(database.engine))
    record_file_stats(database.engine, plan.rehashed, processed)
    for problem in plan.problems[:SHOWN_PROBLEMS]:
        context.log.warning(f"landing entry ignored: {problem}")
    requests = []
    for org, scrapes in by_organization(plan.new_files).items():
        key = run_key(org, scrapes)
        requests.append(dg.RunRequest(
            run_key=key, partition_key=org,
            tags={"enrichment/scrape_file": bounded(", ".join(s.path.name for s in scrapes), 200),
                  "enrichment/scrape_files": str(len(scrapes)),
                  "enrichment/scrape_sha256": key.split(":", 1)[1]},
        ))
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
