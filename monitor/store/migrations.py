"""Versioned, named, ordered migrations of the watchdog's own tables (`monitor/store/migrations/NNNN_name.sql`).

`schema_migrations` records what was applied. `apply_migrations` holds a session advisory lock for the whole run, so
two processes migrating at once apply each migration exactly once; each migration runs in its own transaction
together with its `schema_migrations` row, so a failed one leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from monitor.errors import StoreError

_NAME = re.compile(r"(?P<number>\d{4})_(?P<slug>[a-z0-9_]+)\.sql")


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (the same in every process and Python version)."""
    digest = hashlib.sha256("\x1f".join(("beta-monitor", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


MIGRATION_LOCK_KEY = advisory_key("schema_migrations")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # e.g. "0001_checkpoints"
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations in order. Raises StoreError on a misnamed file or a duplicate number."""
    folder = resources.files("monitor.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.fullmatch(entry.name)
        if not match:
            raise StoreError(f"migration file {entry.name} must be named NNNN_name.sql (lowercase)")
        found.append(Migration(int(match["number"]), entry.name[: -len(".sql")], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(set(numbers)) != len(numbers):
        raise StoreError("two migration files share a number: renumber monitor/store/migrations")
    return found


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply pending migrations on an autocommit connection; returns the names applied (empty when up to date)."""
    if not conn.autocommit:
        raise StoreError("apply_migrations needs an autocommit connection")
    migrations = load_migrations()
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        done: list[str] = []
        for migration in migrations:
            if migration.name in applied:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode("utf-8"))
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (migration.name,))
            done.append(migration.name)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
