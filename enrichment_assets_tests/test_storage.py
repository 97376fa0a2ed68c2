"""Database layer: migrations, idempotent sync, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from enrichment_assets.resources.database import DatabaseResource
from enrichment_assets.storage.database import (
    create_db_engine, current_revision, head_revision, redact_url, sync_rows, upgrade_to_head,
)
from enrichment_assets.storage.schema import metadata, raw_records


def _row(external_id: str, payload: dict, seen: str = "2026-01-01") -> dict:
    from datetime import datetime

    when = datetime.fromisoformat(seen)
    return {"organization": "org-a", "external_id": external_id, "payload": payload,
            "payload_hash": "h" * 64, "scrape_sha256": "s" * 64,
            "scraped_at": datetime(2026, 1, 1), "first_seen_at": when, "last_seen_at": when,
            "removed_at": None}


def _exercise(engine: sa.Engine) -> None:
    assert upgrade_to_head(engine) is True
    assert current_revision(engine) == head_revision()
    assert upgrade_to_head(engine) is False, "second upgrade must be a no-op"
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        stored = {c["name"] for c in inspector.get_columns(table.name)}
        assert stored == {c.name for c in table.columns}, f"migration and schema differ for {table.name}"

    with engine.begin() as conn:
        first = sync_rows(conn, raw_records, [_row("1", {"name": "Bello"}), _row("2", {"name": "Luna"})])
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    with engine.begin() as conn:
        again = sync_rows(conn, raw_records, [_row("1", {"name": "Bello"}, "2026-02-01"),
                                              _row("2", {"name": "Luna", "age_text": "2 years"}, "2026-02-01")],
                          keep=("first_seen_at",))
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    with engine.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(sa.select(raw_records))}
    assert len(rows) == 2
    assert rows["2"].payload == {"name": "Luna", "age_text": "2 years"}
    assert str(rows["2"].first_seen_at).startswith("2026-01-01"), "first_seen_at must be kept on update"
    assert str(rows["1"].last_seen_at).startswith("2026-01-01"), "unchanged row must not be rewritten"


def test_sqlite_migrations_and_idempotent_sync(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'sub' / 'db.sqlite'}")
    _exercise(engine)


@pytest.mark.postgres
def test_postgres_migrations_and_idempotent_sync(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    try:
        _exercise(engine)
    finally:
        engine.dispose()


def test_resource_defaults_to_sqlite_under_enrichment_home(enrichment_home: Path) -> None:
    resource = DatabaseResource()
    assert resource.resolved_url() == f"sqlite:///{enrichment_home / 'enrichment.db'}"
    assert current_revision(resource.engine) == head_revision()
    assert (enrichment_home / "enrichment.db").exists()


@pytest.mark.postgres
def test_resource_uses_environment_url(enrichment_home: Path, postgres_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_DATABASE_URL", postgres_url)
    resource = DatabaseResource()
    assert resource.describe()["backend"] == "postgresql"
    assert current_revision(resource.engine) == head_revision()
    resource.engine.dispose()


def test_unsupported_backend_and_password_redaction() -> None:
    with pytest.raises(ValueError, match="mysql"):
        DatabaseResource(url="mysql://u:secret@h/db").resolved_url()
    assert "secret" not in redact_url("postgresql+psycopg2://u:secret@h/db")


def _lock_all_holds_every_lock_on_one_connection(engine) -> None:
    from enrichment_assets.storage.locks import LockHeld, exclusive, exclusive_all

    names = [f"model-stage:org-{i:03d}" for i in range(50)]
    with exclusive_all(engine, names, wait_s=0.0):
        with pytest.raises(LockHeld):
            with exclusive(engine, "model-stage:org-017", wait_s=0.0):
                pass
        with exclusive(engine, "model-stage:other", wait_s=0.0):
            pass
        if engine.url.get_backend_name() == "postgresql":
            with engine.connect() as conn:  # 50 advisory locks, one backend holding them
                holders = conn.execute(sa.text(
                    "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar_one()
            assert holders == 1
    with exclusive(engine, "model-stage:org-017", wait_s=0.0):  # released
        pass
    with exclusive(engine, "model-stage:org-000", wait_s=0.0):
        with pytest.raises(LockHeld):
            with exclusive_all(engine, names, wait_s=0.0):
                pass
    with exclusive(engine, "model-stage:org-049", wait_s=0.0):  # the partial set was released
        pass


def test_exclusive_all_on_sqlite(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    _lock_all_holds_every_lock_on_one_connection(engine)
    engine.dispose()


@pytest.mark.postgres
def test_exclusive_all_on_postgres(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    _lock_all_holds_every_lock_on_one_connection(engine)
    engine.dispose()
