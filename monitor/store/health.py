"""Read-only questions `beta-monitor doctor` asks the watchdog's database: is it migrated, which flags have a stored
expectation. Nothing here creates or migrates a table (the other store entry points migrate on first use)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from monitor.store.connection import connect, translate_errors
from monitor.store.migrations import load_migrations


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[str]
    pending: list[str]
    server_version: str


def migration_status(url: str) -> MigrationStatus:
    """Which packaged migrations the database has and lacks. Raises StoreError when it cannot be asked."""
    known = [m.name for m in load_migrations()]
    with (
        connect(url, purpose="watchdog") as conn,
        translate_errors(url, purpose="watchdog", action="reading the applied migrations"),
    ):
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied: set[str] = set()
        if exists and exists[0]:
            applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    return MigrationStatus(
        applied=[n for n in known if n in applied],
        pending=[n for n in known if n not in applied],
        server_version=version,
    )


def expected_features(url: str) -> list[str]:
    """Flags with an expectation stored by `rollout set` (the ones a rollout is in progress for), sorted."""
    with (
        connect(url, purpose="watchdog") as conn,
        translate_errors(url, purpose="watchdog", action="listing the flags with a stored expectation"),
    ):
        try:
            rows = conn.execute("SELECT feature FROM expectations ORDER BY feature").fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [str(row[0]) for row in rows]
