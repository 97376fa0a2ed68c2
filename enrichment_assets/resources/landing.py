"""``LandingResource``: where scrape files arrive."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from enrichment_assets import settings


class LandingResource(dg.ConfigurableResource):
    """Landing folder ``<path>/<organization>/<scrape>.jsonl``.

    ``path`` unset: ``ENRICHMENT_LANDING_DIR`` or ``<ENRICHMENT_HOME>/landing``.
    """

    path: str | None = Field(default=None, description="Landing folder; default from ENRICHMENT_LANDING_DIR")

    @property
    def root(self) -> Path:
        return Path(self.path).resolve() if self.path else settings.landing_dir()
