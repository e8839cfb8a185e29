"""Versioned migrations: ordered, idempotent, safe when two threads or two processes migrate at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest

from monitor.errors import StoreError
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.migrations import advisory_key, load_migrations

NAMES = ["0001_checkpoints", "0002_expectations", "0003_rollout_audit", "0004_cohort_failures", "0005_entry_form"]


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY applied_at, name")]


def _column_types(url: str, table: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", (table,)
        ).fetchall()
    return dict(rows)


def test_migrations_are_named_and_ordered() -> None:
    migrations = load_migrations()
    assert [m.name for m in migrations] == NAMES
    assert [m.number for m in migrations] == [1, 2, 3, 4, 5]


def test_migrate_applies_everything_once(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    assert store.migrate() == NAMES
    assert store.migrate() == []
    assert PostgresCheckpointStore(pg_url).migrate() == []
    assert _applied(pg_url) == NAMES


def test_tables_owned_by_the_watchdog(pg_url: str) -> None:
    PostgresCheckpointStore(pg_url).migrate()
    checkpoints = _column_types(pg_url, "checkpoints")
    assert checkpoints["id"] == "bigint" and checkpoints["run_key"] == "text"
    assert checkpoints["window_start"] == checkpoints["created_at"] == "timestamp with time zone"
    for column in ("live_config", "expected", "checks", "metrics", "gate"):
        assert checkpoints[column] == "jsonb"
    assert checkpoints["allowlist_hashes"] == "ARRAY" and checkpoints["appended"] == "boolean"
    assert set(_column_types(pg_url, "expectations")) == {
        "feature",
        "enabled",
        "rollout_percentage",
        "reason",
        "actor",
        "updated_at",
    }
    assert set(_column_types(pg_url, "rollout_audit")) == {"id", "feature", "actor", "at", "before", "after", "reason"}
    failures = _column_types(pg_url, "cohort_failures")
    assert failures == {"checkpoint_id": "bigint", "feature": "text", "phase": "text", "keys": "ARRAY"}


def test_first_use_applies_migrations(pg_url: str) -> None:
    assert PostgresCheckpointStore(pg_url).history("fav") == []
    assert _applied(pg_url) == NAMES


def test_two_threads_migrating_at_once(pg_url: str) -> None:
    start = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(30)
            results.append(PostgresCheckpointStore(pg_url).migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors
    assert sorted(results, key=len) == [[], NAMES]
    assert _applied(pg_url) == NAMES


_MIGRATE = (
    "import json, sys; from monitor.store.checkpoints import PostgresCheckpointStore as S; "
    "print(json.dumps(S(sys.argv[1]).migrate()))"
)


@pytest.mark.slow
def test_two_processes_migrating_at_once(pg_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    applied = [json.loads(out) for out, _ in outputs]
    assert sorted(applied, key=len) == [[], NAMES]
    assert _applied(pg_url) == NAMES


def test_failed_migration_leaves_nothing_half_applied(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE expectations (squatter int)")  # 0002 will fail on CREATE TABLE
    store = PostgresCheckpointStore(pg_url)
    with pytest.raises(StoreError, match='while migrating the watchdog tables: relation "expectations" already'):
        store.migrate()
    assert _applied(pg_url) == ["0001_checkpoints"]
    assert set(_column_types(pg_url, "expectations")) == {"squatter"}


@pytest.mark.parametrize(
    ("parts", "other"),
    [
        pytest.param(("checkpoint", "fav", "1%"), ("checkpoint", "fav", "5%"), id="phase"),
        pytest.param(("checkpoint", "a", "bc"), ("checkpoint", "ab", "c"), id="no-concatenation-collision"),
    ],
)
def test_advisory_keys_are_stable_signed_64_bit(parts: tuple[str, ...], other: tuple[str, ...]) -> None:
    key = advisory_key(*parts)
    assert key == advisory_key(*parts)
    assert -(2**63) <= key < 2**63
    assert key != advisory_key(*other)


def test_advisory_key_is_pinned() -> None:
    # Processes of different versions must agree on the key, so its derivation may never change.
    assert advisory_key("checkpoint", "fav", "1%") == 2963885528838274420
