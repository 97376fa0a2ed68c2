"""Asset checks: schema validity of every asset, scrape-file trust of raw_records, quality gates
of profiles and translations."""

from enrichment_assets.checks.gates import gate_checks
from enrichment_assets.checks.ingest import ingest_checks
from enrichment_assets.checks.schema import schema_checks

all_checks = [*schema_checks, *ingest_checks, *gate_checks]
