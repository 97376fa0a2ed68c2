"""Engine creation, Alembic upgrade at start-up, and idempotent row synchronisation.

Pure SQLAlchemy (no Dagster): :class:`enrichment_assets.resources.database.DatabaseResource`
wraps it for assets, the CLI and tests use it directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock

from enrichment_assets.storage.schema import VOLATILE_COLUMNS, metadata

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
#: Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_PG_MIGRATION_LOCK = 734_201_911


def utcnow() -> datetime:
    """Current time as naive UTC (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime | None) -> datetime | None:
    """``value`` converted to naive UTC; naive input is taken as UTC already."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def stable_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value`` (sorted keys, UTF-8)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and metadata)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as a placeholder, never raw
        return "<unparsable database url>"


def create_db_engine(url: str) -> sa.Engine:
    """Engine for ``url``; SQLite files get their folder created and a 30 s busy timeout.

    The busy timeout lets concurrent organization runs share one SQLite file (writers wait
    instead of failing with "database is locked"); see :func:`_sqlite_pragmas`.
    """
    parsed = sa.engine.make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    sqlite_file = False
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            sqlite_file = True
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(parsed, **kwargs)
    if sqlite_file:
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL journal with ``synchronous=NORMAL``: a commit costs no fsync, so the model stage
    can store every answer in its own small transaction (issue 10), and readers do not block
    the writer. A killed process loses nothing committed; only a power cut may lose the last
    commits."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest Alembic revision shipped with the package."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def allow_renames_under_views(conn: sa.Connection) -> None:
    """On SQLite, let migrations rebuild tables that a view names.

    Alembic's batch mode (SQLite) copies a table, drops it and renames the copy; since SQLite
    3.26 the rename fails while a view (``published_profiles``) names the dropped table
    ("error in view ...: no such table"). ``PRAGMA legacy_alter_table=ON`` renames without
    that check, and the view reads the rebuilt table by name afterwards. No-op elsewhere.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA legacy_alter_table=ON")


def upgrade_to_head(engine: sa.Engine) -> bool:
    """Apply pending Alembic migrations; return True when something was applied.

    Safe to call from concurrent processes: PostgreSQL takes an advisory lock inside the
    migration transaction, SQLite a file lock beside the database file.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return False
    cfg = _alembic_config()
    backend = engine.url.get_backend_name()
    if backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with FileLock(f"{engine.url.database}.migrate.lock", timeout=120):
            if current_revision(engine) == head:
                return False
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        return True
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            if MigrationContext.configure(conn).get_current_revision() == head:
                return False
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return True


@dataclass
class SyncResult:
    """Counts of one :func:`sync_rows` call; ``by_organization``: the same counts per
    organization, for rows of a table with an ``organization`` key column."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    by_organization: dict[str, SyncResult] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


#: Organizations per ``IN (...)`` list: far below SQLite's and PostgreSQL's parameter limits.
ORGANIZATIONS_PER_QUERY = 500


def rows_by_organization(conn: sa.Connection, query: sa.Select, column: sa.ColumnElement,
                         organizations: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``query`` (a select that includes ``column``, an organization column) for
    each of ``organizations``, as dicts in the query's order: one query per
    :data:`ORGANIZATIONS_PER_QUERY` organizations instead of one per organization (a
    many-partition step evaluates its checks for up to 200 of them). Every organization
    is a key; one without rows maps to ``[]``."""
    grouped: dict[str, list[dict[str, Any]]] = {org: [] for org in organizations}
    unique = list(grouped)
    for start in range(0, len(unique), ORGANIZATIONS_PER_QUERY):
        chunk = unique[start:start + ORGANIZATIONS_PER_QUERY]
        for row in conn.execute(query.where(column.in_(chunk))).mappings():
            grouped[row[column.name]].append(dict(row))
    return grouped


def _key_of(row: Mapping[str, Any], key_cols: Sequence[str]) -> tuple:
    return tuple(row[c] for c in key_cols)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) or isinstance(new, datetime):
        return to_naive_utc(old) == to_naive_utc(new)
    return old == new


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE for SQLite and PostgreSQL. All rows
    have the columns of the first."""
    if not rows:
        return
    stmt = _upsert_statement(conn.dialect.name, table, tuple(rows[0].keys()))
    for start in range(0, len(rows), 500):
        conn.execute(stmt, list(rows[start:start + 500]))


@functools.lru_cache(maxsize=256)
def _upsert_statement(backend: str, table: sa.Table, columns: tuple[str, ...]):
    """The upsert of ``columns`` into ``table`` for ``backend``, built once (building it,
    ``excluded`` and all, cost more than running it for a small organization's rows)."""
    if backend == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif backend == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - guarded by DatabaseResource
        raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c: stmt.excluded[c] for c in columns if c not in keys},
    )


def sync_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    keep: Iterable[str] = (),
) -> SyncResult:
    """Write ``rows`` so the table holds them, touching only rows whose content changed.

    A row is compared with the stored row of the same primary key on every column except
    the volatile ones (timestamps such as ``updated_at``) and ``keep``; unchanged rows are
    not written at all, so re-running a partition leaves the database byte-for-byte as it
    was. Columns named in ``keep`` keep their stored value on update (e.g. ``first_seen_at``).

    All rows of one call must have the same columns, including every primary-key column.
    """
    rows = list(rows)
    if not rows:
        return SyncResult()
    keep = set(keep)
    key_cols = [c.name for c in table.primary_key.columns]
    columns = list(rows[0].keys())
    missing = [c for c in key_cols if c not in columns]
    if missing:
        raise ValueError(f"sync_rows({table.name}): rows lack primary-key columns {missing}")
    compare = [c for c in columns if c not in key_cols and c not in VOLATILE_COLUMNS and c not in keep]
    existing: dict[tuple, Mapping[str, Any]] = {}
    orgs = {row["organization"] for row in rows} if "organization" in key_cols else set()
    query = sa.select(*[table.c[c] for c in key_cols + compare + sorted(keep)])
    if orgs:
        query = query.where(table.c.organization.in_(sorted(orgs)))
    for stored in conn.execute(query).mappings():
        existing[_key_of(stored, key_cols)] = stored
    result = SyncResult()
    to_write = []
    for row in rows:
        stored = existing.get(_key_of(row, key_cols))
        per_org = result.by_organization.setdefault(row["organization"], SyncResult()) if orgs else SyncResult()
        if stored is None:
            result.inserted += 1
            per_org.inserted += 1
            to_write.append(dict(row))
        elif all(_same(stored[c], row[c]) for c in compare):
            result.unchanged += 1
            per_org.unchanged += 1
        else:
            result.updated += 1
            per_org.updated += 1
            merged = dict(row)
            for c in keep:
                merged[c] = stored[c]
            to_write.append(merged)
    upsert(conn, table, to_write)
    return result


def table_names() -> list[str]:
    """Names of the application tables, in creation order."""
    return [t.name for t in metadata.sorted_tables]
