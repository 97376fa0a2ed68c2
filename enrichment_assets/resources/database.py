"""``DatabaseResource``: the application database for assets, checks and sensors."""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr

from enrichment_assets import settings
from enrichment_assets.storage.database import create_db_engine, redact_url, upgrade_to_head


class DatabaseResource(dg.ConfigurableResource):
    """SQLAlchemy 2 engine on SQLite (embedded default) or PostgreSQL.

    ``url``: a SQLAlchemy URL; when unset, ``ENRICHMENT_DATABASE_URL`` or
    ``sqlite:///<ENRICHMENT_HOME>/enrichment.db``. Alembic migrations are applied when the
    resource starts (once per process); concurrent starts are serialised by a lock.
    Only ``sqlite`` and ``postgresql`` URLs are accepted.
    """

    url: str | None = Field(default=None, description="SQLAlchemy URL; default from ENRICHMENT_DATABASE_URL")

    _engine: sa.Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        url = self.url or settings.database_url()
        backend = sa.engine.make_url(url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                f"database url {redact_url(url)}: backend {backend!r} is not supported (sqlite, postgresql)"
            )
        return url

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = create_db_engine(self.resolved_url())
        upgrade_to_head(self._engine)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> sa.Engine:
        """The migrated engine (created on first use outside of a Dagster run)."""
        if self._engine is None:
            self._engine = create_db_engine(self.resolved_url())
            upgrade_to_head(self._engine)
        return self._engine

    def describe(self) -> dict[str, Any]:
        """Backend and password-free URL, for metadata."""
        url = self.resolved_url()
        return {"backend": sa.engine.make_url(url).get_backend_name(), "url": redact_url(url)}
