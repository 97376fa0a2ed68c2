"""Where things live, from environment variables with embedded defaults.

| variable                  | default                                  |
|---------------------------|------------------------------------------|
| ENRICHMENT_HOME           | ``.enrichment/`` in the working directory |
| ENRICHMENT_LANDING_DIR    | ``<ENRICHMENT_HOME>/landing``             |
| ENRICHMENT_DATABASE_URL   | ``sqlite:///<ENRICHMENT_HOME>/enrichment.db`` |
| DAGSTER_HOME              | ``<ENRICHMENT_HOME>/dagster`` (SQLite), or ``<ENRICHMENT_HOME>/dagster-postgres`` when ENRICHMENT_DAGSTER_PG_URL is set |
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


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dagster_postgres_url() -> str | None:
    """``ENRICHMENT_DAGSTER_PG_URL``: Dagster's own storage on PostgreSQL when set."""
    return os.environ.get("ENRICHMENT_DAGSTER_PG_URL") or None


def dagster_home() -> Path:
    """The persistent Dagster instance folder shared by ``enrichment run`` and ``make dev``."""
    env = os.environ.get("DAGSTER_HOME")
    if env:
        return Path(env).resolve()
    return enrichment_home() / ("dagster-postgres" if dagster_postgres_url() else "dagster")


def prepare_dagster_home() -> Path:
    """Create the Dagster instance folder with a ``dagster.yaml`` if missing; return it.

    With ``ENRICHMENT_DAGSTER_PG_URL`` set, the folder gets the project's top-level
    ``dagster.yaml`` (PostgreSQL storage, queued run coordinator with the model-run limit,
    run monitoring); otherwise a file that only turns telemetry off, so Dagster keeps its
    default SQLite storage in the folder.
    """
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        if dagster_postgres_url():
            config.write_text((PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8")
        else:
            config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def sensor_interval_s() -> int:
    """Minimum seconds between sensor ticks (``ENRICHMENT_SENSOR_INTERVAL_S``, default 30)."""
    return int(os.environ.get("ENRICHMENT_SENSOR_INTERVAL_S") or 30)


def env_float(name: str) -> float | None:
    """``float`` of environment variable ``name``; ``None`` when unset or empty.

    Raises:
        ValueError: naming the variable when the value is not a number.
    """
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r}: not a number") from exc
