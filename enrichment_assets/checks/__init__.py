"""Asset checks: schema validity of every asset, quality gates of profiles and translations."""

from enrichment_assets.checks.gates import gate_checks
from enrichment_assets.checks.schema import schema_checks

all_checks = [*schema_checks, *gate_checks]
