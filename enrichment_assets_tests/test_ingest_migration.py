"""Migration 0005_ingest_hardening keeps the scrape files already processed (issue 9)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from enrichment_assets.storage.database import _alembic_config, create_db_engine, upgrade_to_head
from enrichment_assets.storage.schema import scrape_files


def _upgrade_keeps_rows(engine: sa.Engine) -> None:
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO scrape_files (sha256, organization, path, scrape_id, full_scrape, scraped_at, lines, "
            "accepted, rejected, processed_at) VALUES (:sha, 'org-a', '/l/org-a/a.jsonl', 'a', :t, NULL, 3, 2, 1, :now)"),
            {"sha": "a" * 64, "t": True, "now": datetime(2026, 1, 1)})
    upgrade_to_head(engine)
    with engine.begin() as conn:
        (row,) = conn.execute(sa.select(scrape_files)).mappings().all()
        assert (row["organization"], row["sha256"], row["accepted"], row["rejected"]) == ("org-a", "a" * 64, 2, 1)
        assert row["status"] == "applied" and row["cut"] == 0 and row["removed"] == 0 and row["reason"] is None
        # the new key: the same bytes may now belong to a second organization
        conn.execute(sa.insert(scrape_files).values(
            organization="org-b", sha256="a" * 64, path="/l/org-b/a.jsonl", full_scrape=True, lines=1,
            accepted=1, rejected=0, processed_at=datetime(2026, 1, 2)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT organization FROM scrape_files")).scalars().all() == ["org-a"]


def test_migration_on_sqlite(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade_keeps_rows(engine)
    engine.dispose()


@pytest.mark.postgres
def test_migration_on_postgres(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    try:
        _upgrade_keeps_rows(engine)
    finally:
        engine.dispose()
