"""Asset checks: schema validity of every asset, scrape-file trust of raw_records, quality gates
of profiles and translations.

The checks are declared on their asset (``check_specs``) and evaluated per organization in
the asset's step (see :mod:`enrichment_assets.checks._stage`); :func:`checks_for` gives an
asset's checks in evaluation order.
"""

from enrichment_assets.checks._stage import StageCheck
from enrichment_assets.checks.gates import gate_checks
from enrichment_assets.checks.ingest import ingest_checks
from enrichment_assets.checks.schema import schema_checks

stage_checks: list[StageCheck] = [*schema_checks, *ingest_checks, *gate_checks]


def checks_for(asset_name: str) -> list[StageCheck]:
    """The checks of ``asset_name``, schema check first."""
    return [c for c in stage_checks if c.asset == asset_name]


def check_specs(asset_name: str):
    """The ``AssetCheckSpec`` of each check of ``asset_name`` (for ``@dg.asset(check_specs=...)``)."""
    return [c.spec for c in checks_for(asset_name)]
