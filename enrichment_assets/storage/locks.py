"""Exclusive locks between processes: one writer per home or per organization (issue 14).

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held
for the lock's lifetime, so it spans machines sharing the database and is released when the
process dies. SQLite: a file lock (``filelock``) beside the database file, released by the
operating system when the process dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout


class LockHeld(RuntimeError):
    """Another process holds the lock; the message says which lock and how long we waited."""


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def _lock_path(engine: sa.Engine, name: str, fallback_dir: Path | None) -> Path:
    database = engine.url.database
    if database and database != ":memory:":
        base = Path(database).parent
    else:
        base = fallback_dir or Path.cwd()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return base / f".lock-{safe}"


@contextlib.contextmanager
def exclusive(engine: sa.Engine, name: str, wait_s: float = 0.0, fallback_dir: Path | None = None,
              poll_s: float = 0.2) -> Iterator[None]:
    """Hold the lock ``name`` for the ``with`` block; wait up to ``wait_s`` seconds for it.

    Raises:
        LockHeld: when another process still holds it after ``wait_s``.
    """
    if engine.url.get_backend_name() == "postgresql":
        key = _advisory_key(name)
        conn = engine.connect()
        try:
            deadline = time.monotonic() + wait_s
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise LockHeld(f"another run holds the lock {name!r} (PostgreSQL advisory lock {key}); "
                                   f"waited {wait_s:.0f} s")
                time.sleep(poll_s)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        finally:
            conn.close()
        return
    path = _lock_path(engine, name, fallback_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), is_singleton=False)
    try:
        lock.acquire(timeout=wait_s, poll_interval=poll_s)
    except Timeout:
        holder = ""
        with contextlib.suppress(OSError):
            holder = (path.with_suffix(".pid").read_text(encoding="utf-8") or "").strip()
        raise LockHeld(f"another run holds the lock {name!r} ({path}{', pid ' + holder if holder else ''}); "
                       f"waited {wait_s:.0f} s") from None
    try:
        with contextlib.suppress(OSError):
            path.with_suffix(".pid").write_text(str(os.getpid()), encoding="utf-8")
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def exclusive_all(engine: sa.Engine, names: list[str], wait_s: float = 0.0, fallback_dir: Path | None = None,
                  poll_s: float = 0.2) -> Iterator[None]:
    """Hold every lock of ``names`` for the ``with`` block, taken in sorted order (two callers
    never wait on each other crosswise); wait up to ``wait_s`` seconds in all. On PostgreSQL
    all advisory locks sit on one connection (a run of 200 organizations must not hold 200
    connections); on SQLite each is its file lock.

    Raises:
        LockHeld: when another process still holds one of them after ``wait_s``; the locks
            taken so far are released.
    """
    ordered = sorted(set(names))
    if engine.url.get_backend_name() != "postgresql":
        with contextlib.ExitStack() as stack:
            for name in ordered:
                stack.enter_context(exclusive(engine, name, wait_s=wait_s, fallback_dir=fallback_dir, poll_s=poll_s))
            yield
        return
    conn = engine.connect()
    held: list[int] = []
    try:
        deadline = time.monotonic() + wait_s
        for name in ordered:
            key = _advisory_key(name)
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.rollback()  # session-level locks already held survive the rollback
                if time.monotonic() >= deadline:
                    raise LockHeld(f"another run holds the lock {name!r} (PostgreSQL advisory lock {key}); "
                                   f"waited {wait_s:.0f} s")
                time.sleep(poll_s)
            conn.commit()
            held.append(key)
        yield
    finally:
        for key in held:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
        conn.close()
