"""Where things live, from environment variables with embedded defaults.

| variable                  | default                                  |
|---------------------------|------------------------------------------|
| ENRICHMENT_HOME           | ``.enrichment/`` in the working directory |
| ENRICHMENT_LANDING_DIR    | ``<ENRICHMENT_HOME>/landing``             |
| ENRICHMENT_DATABASE_URL   | ``sqlite:///<ENRICHMENT_HOME>/enrichment.db`` |
| DAGSTER_HOME              | ``<ENRICHMENT_HOME>/dagster``             |
"""

from __future__ import annotations

import os
from pathlib import Path


def enrichment_home() -> Path:
    """``ENRICHMENT_HOME`` as an absolute path (not created)."""
    return Path(os.environ.get("ENRICHMENT_HOME") or ".enrichment").resolve()


def landing_dir() -> Path:
    """Landing folder holding ``<organization>/<scrape>.jsonl`` files."""
    env = os.environ.get("ENRICHMENT_LANDING_DIR")
    return Path(env).resolve() if env else enrichment_home() / "landing"


def database_url() -> str:
    """SQLAlchemy URL of the application database."""
    env = os.environ.get("ENRICHMENT_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{enrichment_home() / 'enrichment.db'}"


def dagster_home() -> Path:
    """The persistent Dagster instance folder shared by ``enrichment run`` and ``make dev``."""
    env = os.environ.get("DAGSTER_HOME")
    return Path(env).resolve() if env else enrichment_home() / "dagster"


def prepare_dagster_home() -> Path:
    """Create the Dagster instance folder with a ``dagster.yaml`` (telemetry off) if missing.

    The embedded instance uses Dagster's default SQLite storage in that folder; the
    top-level ``dagster.yaml`` is the PostgreSQL-backed one for production.
    """
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home
