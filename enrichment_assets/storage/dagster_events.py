"""Dagster's own event log on the embedded SQLite default, with reused connections.

Dagster's :class:`~dagster._core.storage.event_log.SqliteEventLogStorage` builds a new engine
and opens a new SQLite connection (``NullPool``) for every statement group, so each event of
a run costs three to five ``open`` / ``commit`` / ``close`` cycles; in WAL mode with SQLite's
default ``synchronous=FULL`` each commit is an ``fsync`` and closing the last connection of a
file checkpoints its WAL (another write and ``fsync``). A many-partition run writes about 21
events per organization (five materializations, eleven check evaluations, five planned
events): on the PetFinder train set (5,595 organizations) that was about 70% of the CPU of
``enrichment run`` (py-spy, December 2026).

:class:`PooledSqliteEventLogStorage` is the same storage (same files, same schema, same
queries; the webserver and the daemon read what it writes) with one change: it keeps one
pooled engine per shard (the index shard and the most recent run shards) and opens its
connections with ``PRAGMA synchronous=NORMAL``. In WAL mode that is SQLite's recommended
setting: a commit survives a crash of the process; only a power loss or OS crash can lose
the last transactions, never corrupt the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
For Dagster's event log of an embedded, single-machine instance that is the right trade; a
production instance runs on PostgreSQL (``ENRICHMENT_DAGSTER_PG_URL``) and does not use this.

:func:`~enrichment_assets.settings.prepare_dagster_home` names this class in the embedded
home's ``dagster.yaml``.

It also remembers each dynamic partitions definition's keys. Every
``context.add_asset_metadata(..., partition_key=...)`` of a ranged run makes Dagster resolve
the run's partition range, which reads every key of the definition (``get_dynamic_partitions``,
5,595 rows on the PetFinder train set, 6.3 ms through SQLAlchemy): 31% of the samples of
``enrichment run`` on that set, growing with the square of the organizations. The remembered
keys are served while the table's ``(count, max(id))`` is unchanged (0.01 ms).

Two more per-event costs of the base class are cut: the ``asset_keys`` schema read for every
asset event, and the INSERT that fails for every event of an asset that has a row before
the UPDATE runs (together 3.4 -> 2.6 ms of CPU per partition of a ranged run that
materializes one asset, December 2026). And it writes a batch of asset events (Dagster
hands over a ranged output's materializations and a run's planned events as batches once
``DAGSTER_EVENT_BATCH_SIZE`` is set, which the settings do) with one transaction per shard,
where the base class stores them one by one: 1.9 -> 1.2 ms of step time per partition.
(dagster-postgres has its own batch write, so the setting helps a PostgreSQL instance too.)

What a many-partition run writes per organization was cut further (December 2026, 1,000
PetFinder rescuers: the non-model steps 4.6-5.2 -> 2.1-1.6 ms per listing together with
the batched reads of the stages): a batch updates each asset's ``asset_keys`` row once;
a planned check's rows serialize the event once (the base class does it per partition);
a check evaluation, never batched by Dagster, is one serialization and two transactions
on sqlite3's cursor (~1 -> ~0.65 ms); ``has_dynamic_partition`` comes from the remembered
keys; and the run's materializations are remembered for the checks that target them
(:meth:`PooledSqliteEventLogStorage.run_materializations`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from dagster._core.events import ASSET_EVENTS, DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, AssetKeyTable, SqlEventLogStorageTable
from dagster._core.storage.sql import create_engine
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect

#: SQLite's busy timeout Dagster's storage uses (seconds).
BUSY_TIMEOUT_S = 30
#: Run shards whose engine stays open besides the index shard: a run writes to its own shard
#: and the index; readers (webserver) open older runs' shards, which are closed LRU-first.
RUN_SHARDS_KEPT = 8
#: Runs whose materializations :meth:`PooledSqliteEventLogStorage.run_materializations` answers.
RUNS_REMEMBERED = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """:class:`SqliteEventLogStorage` with one pooled engine per shard and
    ``synchronous=NORMAL`` connections (see the module docstring). Configured like its base
    class (``config: {base_dir: <folder of the shard files>}``)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()
        self._partitions: dict[str, tuple[tuple[int, int], list[str], frozenset[str]]] = {}
        self._asset_key_columns: set[str] = set()
        #: run id -> asset key -> partition -> (storage id, timestamp) of the materializations
        #: this process stored for the latest RUNS_REMEMBERED runs (see run_materializations)
        self._materialized: OrderedDict[str, dict[object, dict[str | None, tuple[int, float]]]] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> sa.Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=sa.pool.QueuePool,
                                   pool_size=1, max_overflow=4, connect_args={"timeout": BUSY_TIMEOUT_S})
            sa.event.listen(engine, "connect", _set_synchronous_normal)
            self._engines[shard] = engine
            run_shards = [s for s in self._engines if s != "index"]
            for old in run_shards[:-RUN_SHARDS_KEPT]:
                self._engines.pop(old).dispose()
            return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def store_event_batch(self, events) -> None:
        """Store ``events`` in their order. What Dagster batches (a ranged output's
        materializations, a run's planned events; only with ``DAGSTER_EVENT_BATCH_SIZE``
        set, see :func:`~enrichment_assets.settings.apply_dagster_event_batching`): each
        stretch of consecutive asset events of one run is written with one transaction per
        shard (the run's and the index), the same rows as the base class's ``store_event``;
        any other event on its own. (The base class stores a batch one event at a time.)"""
        def asset_event(event) -> bool:
            return event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS

        for (is_asset, _), group in itertools.groupby(events, key=lambda e: (asset_event(e), e.run_id)):
            group = list(group)
            if is_asset and len(group) > 1:
                self._store_asset_events(group)
            else:
                for event in group:
                    self.store_event(event)

    def _store_asset_events(self, events: list) -> None:
        inserts = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for insert in inserts:
                conn.execute(insert)
        with self.index_transaction() as conn:
            ids = [conn.execute(insert).inserted_primary_key[0] for insert in inserts]
            self._store_asset_event_tags(conn, events, ids)
            # an asset's row ends with, per column, the value of the batch's last event that
            # sets it, and which columns an event sets depends on its type: so the last event
            # of each (asset, type) is enough, applied in batch order. The base class updates
            # the row for every event, each time serializing the event again for
            # last_materialization: 40% of a ranged output's materialization cost.
            last: dict[tuple, tuple[int, object, int]] = {}
            for position, (event, event_id) in enumerate(zip(events, ids)):
                if event.dagster_event and event.dagster_event.asset_key:
                    last[(event.dagster_event.asset_key, event.dagster_event_type)] = (position, event, event_id)
            has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
            merged: dict = {}
            for (asset_key, _), (_, event, event_id) in sorted(last.items(), key=lambda item: item[1][0]):
                merged.setdefault(asset_key, {}).update(self._get_asset_entry_values(event, event_id, has_index_cols))
            for asset_key, values in merged.items():
                self._write_asset_row(conn, asset_key.to_string(), values)
        for event, event_id in zip(events, ids):
            self._remember_materialization(event, event_id)

    def _remember_materialization(self, event, event_id: int) -> None:
        if not (event.is_dagster_event and event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION):
            return
        run = self._materialized.setdefault(event.run_id, {})
        self._materialized.move_to_end(event.run_id)
        run.setdefault(event.dagster_event.asset_key, {})[event.dagster_event.partition] = (event_id, event.timestamp)
        while len(self._materialized) > RUNS_REMEMBERED:
            self._materialized.popitem(last=False)

    def run_materializations(self, run_id: str, asset_key) -> dict[str | None, tuple[int, float]]:
        """partition -> (storage id, timestamp) of the materializations of ``asset_key`` that
        this storage stored as a batch (a ranged output's, see :meth:`store_event_batch`) for
        run ``run_id`` (the latest per partition), for the latest
        :data:`RUNS_REMEMBERED` runs it stored any for; ``{}`` for another run. What a
        many-partition step's checks target, without reading back and deserializing the
        events it has just written (0.4 ms each with their metadata)."""
        return dict(self._materialized.get(run_id, {}).get(asset_key, {}))

    def store_event(self, event) -> None:
        """As the base class; an asset check evaluation of a run is stored by
        :meth:`_store_check_evaluation` (the same rows, fewer statements)."""
        if (event.is_dagster_event and event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION
                and event.run_id):
            self._store_check_evaluation(event)
        else:
            super().store_event(event)

    def _store_check_evaluation(self, event) -> None:
        """The rows the base class writes for an asset check evaluation of a run: the event in
        the run's shard and in the index, and the check's execution row that the run's planned
        event created, updated with the result. The base class serializes the event twice,
        builds three statements and commits the index twice (three transactions, ~1.5 ms of a
        step's time per evaluation: a many-partition run evaluates eleven checks per
        organization). Here the event is serialized once, the index rows are written in one
        transaction, and the statements (compiled once by SQLAlchemy, :func:`_driver_statements`)
        run on sqlite3's cursor of the pooled connection, inside the transactions SQLAlchemy
        opens and commits: SQLAlchemy's per-statement work was 40% of the rest. With no
        planned row (a step launcher's external instance) the base class's insert is used."""
        row = self._event_to_row(event)
        evaluation = event.dagster_event.event_specific_data
        target = evaluation.target_materialization_data
        sql = _driver_statements()
        timestamp = sql.timestamp(row["timestamp"])
        insert = [timestamp if c == "timestamp" else row[c] for c in _EVENT_COLUMNS]
        with self.run_connection(event.run_id) as conn:
            conn.connection.driver_connection.execute(sql.insert_event, insert)
        with self.index_transaction() as conn:
            cursor = conn.connection.driver_connection.execute(sql.insert_event, insert)
            event_id = cursor.lastrowid
            values = {
                "k_asset_key": evaluation.asset_key.to_string(), "k_check_name": evaluation.check_name,
                "k_run_id": event.run_id, "k_partition": evaluation.partition,
                "execution_status": (AssetCheckExecutionRecordStatus.SUCCEEDED.value if evaluation.passed
                                     else AssetCheckExecutionRecordStatus.FAILED.value),
                "evaluation_event": row["event"], "evaluation_event_timestamp": timestamp,
                "evaluation_event_storage_id": event_id,
                "materialization_event_storage_id": target.storage_id if target else None,
            }
            update, names = sql.update_null if evaluation.partition is None else sql.update
            updated = conn.connection.driver_connection.execute(update, [values[n] for n in names]).rowcount
        if updated != 1:  # no planned row (or, as the base class raises for, several)
            self._update_asset_check_evaluation(event, event_id)

    def _store_asset_check_evaluation_planned(self, event, event_id: int | None) -> None:
        """One PLANNED execution row per partition of the planned event, as the base class
        writes them, with the event serialized once: the base class serializes the whole
        event (which holds the run's partition subset) again for every partition, quadratic
        in the partitions of a run (6.8 s of a 1,000-organization run, py-spy)."""
        planned = event.dagster_event.event_specific_data
        keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        common = {"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name,
                  "run_id": event.run_id, "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
                  "evaluation_event": serialize_value(event),
                  "evaluation_event_timestamp": self._event_insert_timestamp(event),
                  "evaluation_event_storage_id": event_id}
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**common, "partition": key} for key in keys])

    def has_table(self, table_name: str) -> bool:
        """Whether the index shard has ``table_name``; a table once found is remembered (Dagster
        asks before writing many events, each time through a new engine and a schema query: 10%
        of a many-partition run's samples). Tables are added by migrations, never dropped."""
        if table_name in self._tables:
            return True
        # not through _connect: Dagster asks while it holds _db_lock (not reentrant)
        with self._engine("index").connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        """The keys of a dynamic partitions definition in insertion order, as the base class
        returns them, from memory while the stamp ``(count(*), max(id))`` of the index shard's
        ``dynamic_partitions`` table (every definition's keys) is what it was when they were
        read; any other change reads them again.
        A key added or deleted by this storage clears the memory; one written by another
        process (the daemon, a sensor) changes the count or the largest id, except for one
        case: the key with the largest id deleted and exactly one key added before this
        process asks again (SQLite reuses the largest rowid); its keys are then stale until
        the next change. Returns a new list (callers may change it)."""
        return list(self._remembered_partitions(partitions_def_name)[0])

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        """Whether ``partition_key`` is a key of the definition, from the keys
        :meth:`get_dynamic_partitions` remembers (the same stamp, the same one stale case).
        Dagster asks twice for every ``add_asset_metadata(partition_key=...)`` of a ranged
        run (the range's first and last key), each a query of its own in the base class."""
        return partition_key in self._remembered_partitions(partitions_def_name)[1]

    def _remembered_partitions(self, partitions_def_name: str) -> tuple[list[str], frozenset[str]]:
        self._check_partitions_table()
        with self.index_connection() as conn:
            # sqlite3's cursor directly: these run three times for every add_asset_metadata of
            # a run, and SQLAlchemy's result rows cost 3x the query (5.3 vs 2.0 ms for 5,595
            # keys). The stamp is the whole table's count and largest id, as two queries
            # SQLite answers from the b-tree without reading the rows (4 us); the same per
            # definition read its index entries (0.35 ms at 5,595 keys)
            driver = conn.connection.driver_connection
            stamp = (driver.execute("SELECT count(*) FROM dynamic_partitions").fetchone()[0],
                     driver.execute("SELECT coalesce(max(id), 0) FROM dynamic_partitions").fetchone()[0])
            cached = self._partitions.get(partitions_def_name)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
            keys = [row[0] for row in driver.execute(
                "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = ? ORDER BY id",
                (partitions_def_name,)).fetchall()]
        keyset = frozenset(keys)
        self._partitions[partitions_def_name] = (stamp, keys, keyset)
        return keys, keyset

    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys) -> None:
        self._partitions.pop(partitions_def_name, None)
        super().add_dynamic_partitions(partitions_def_name, partition_keys)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self._partitions.pop(partitions_def_name, None)
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    def _has_asset_key_col_on_connection(self, conn: sa.Connection, column_name: str) -> bool:
        """Whether the ``asset_keys`` table has ``column_name``; a column once found is
        remembered. Dagster asks for every asset event it stores, each time by reading the
        table's schema (``PRAGMA table_info``): 5% of a materialization's cost."""
        if column_name in self._asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns.add(column_name)
        return found

    def _store_asset_event(self, conn: sa.Connection, event, event_id: int) -> None:
        """The asset's row in ``asset_keys`` updated with ``event`` (its latest event), as the
        base class does, but trying the UPDATE first: the base tries an INSERT first, and
        for every event of an asset that already has a row (all but its first) SQLite
        raises an IntegrityError that SQLAlchemy wraps before the UPDATE runs. An INSERT
        is made only when no row was updated (and if another process inserted the row in
        between, the UPDATE is made again)."""
        if not (event.dagster_event and event.dagster_event.asset_key):
            return
        values = self._get_asset_entry_values(event, event_id, self._has_asset_key_index_cols_on_connection(conn))
        self._write_asset_row(conn, event.dagster_event.asset_key.to_string(), values)

    def _write_asset_row(self, conn: sa.Connection, key: str, values: dict) -> None:
        """``values`` written to the ``asset_keys`` row of ``key`` (a serialized asset key),
        UPDATE first, INSERT when there is no row yet."""
        if not values:
            return
        update = AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key)
        if conn.execute(update).rowcount:
            return
        try:  # as the base class: SQLite keeps the transaction after a constraint error
            conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
        except sa.exc.IntegrityError:
            conn.execute(update)

    def upgrade(self) -> None:
        super().upgrade()
        self._tables.clear()
        self._asset_key_columns.clear()

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._partitions.clear()
        self._dispose_engines()  # the run shard files are deleted; no connection may keep them open
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()


def _check_update(partition_clause) -> sa.Update:
    """The UPDATE of a run's planned check execution row (``asset_key, check_name, run_id,
    partition``, the key of ``idx_asset_check_executions_unique``) that the base class's
    ``_update_asset_check_evaluation`` builds per event, with bound parameters."""
    table = AssetCheckExecutionsTable
    return table.update().where(
        table.c.asset_key == sa.bindparam("k_asset_key"), table.c.check_name == sa.bindparam("k_check_name"),
        table.c.run_id == sa.bindparam("k_run_id"), partition_clause,
    ).values(execution_status=sa.bindparam("execution_status"), evaluation_event=sa.bindparam("evaluation_event"),
             evaluation_event_timestamp=sa.bindparam("evaluation_event_timestamp"),
             evaluation_event_storage_id=sa.bindparam("evaluation_event_storage_id"),
             materialization_event_storage_id=sa.bindparam("materialization_event_storage_id"))


#: The event_logs columns an event row has (``SqlEventLogStorage._event_to_row``), in insert order.
_EVENT_COLUMNS = ("run_id", "event", "dagster_event_type", "timestamp", "step_key", "asset_key", "partition")


@dataclass(frozen=True)
class _DriverStatements:
    """The check evaluation's statements compiled for SQLite: SQL text with
    ``?`` placeholders and, for the updates, the bound names in placeholder order; and
    SQLAlchemy's own conversion of a datetime for that dialect (its stored text form)."""

    insert_event: str
    update: tuple[str, list[str]]
    update_null: tuple[str, list[str]]
    timestamp: Callable[[object], object]


@functools.cache
def _driver_statements() -> _DriverStatements:
    dialect = sqlite_dialect()

    def compiled(statement) -> tuple[str, list[str]]:
        done = statement.compile(dialect=dialect)
        return done.string, list(done.positiontup)

    insert, order = compiled(SqlEventLogStorageTable.insert().values({c: sa.bindparam(c) for c in _EVENT_COLUMNS}))
    assert order == list(_EVENT_COLUMNS), order
    to_text = sa.DateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    return _DriverStatements(
        insert_event=insert,
        update=compiled(_check_update(AssetCheckExecutionsTable.c.partition == sa.bindparam("k_partition"))),
        update_null=compiled(_check_update(AssetCheckExecutionsTable.c.partition.is_(None))),
        timestamp=to_text)


def _set_synchronous_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
