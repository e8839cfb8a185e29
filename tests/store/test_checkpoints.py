"""PostgresCheckpointStore on a real PostgreSQL: exact round trip, idempotent save, history, appends, locking."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from monitor.domain import (
    Checkpoint,
    CheckResult,
    ExpectedConfig,
    GateAction,
    GateDecision,
    Status,
    Window,
)
from monitor.errors import ConfigError, StoreError
from monitor.store.checkpoints import PostgresCheckpointStore

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make_checkpoint(
    label: str = "hourly",
    *,
    feature: str = "fav",
    phase: str = "1%",
    at: datetime = T0,
    status: Status = Status.PASS,
    run_key: str | None = None,
) -> Checkpoint:
    return Checkpoint(
        feature=feature,
        phase=phase,
        label=label,
        run_key=run_key or f"{feature}|{phase}|{label}|{at.isoformat()}",
        status=status,
        window=Window(start=at - timedelta(hours=1), end=at),
        live_config={
            "key": feature,
            "enabled": True,
            "rollout_percentage": 1,
            "allowlist_size": 2,
            "updated_at": "2024-05-01T08:00:00+00:00",
            "mirror": None,
        },
        expected=ExpectedConfig(rollout_percentage=1, enabled=True, source="stored"),
        checks=[
            CheckResult(
                name="error_rate",
                status=Status.PASS,
                summary="5xx 0.10% (2/2000)",
                evidence={"rate": 0.001, "interval": [0.0002, 0.0036], "by_group": {"matching": {"5xx": 2}}},
            ),
            CheckResult(name="latency", status=Status.NODATA, summary="no baseline", evidence={}),
        ],
        metrics={"requests": 2000, "5xx": 2, "p95_ms": 87.5, "ratio": 1.0, "tiny": 1e-20},
        gate=GateDecision(
            action=GateAction.HOLD,
            reasons=["1 PASS"],
            missing=["1 more PASS checkpoint"],
            command="beta-monitor gate fav 1%",
        ),
        created_at=at + timedelta(minutes=5, microseconds=123456),
        allowlist_hashes=["a" * 64, "b" * 64],
    )


def test_checkpoint_round_trips_exactly(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    original = make_checkpoint()

    saved, created = store.save(original)

    assert created and saved.id is not None
    assert saved == original.model_copy(update={"id": saved.id})
    assert saved.model_dump(mode="json") == {**original.model_dump(mode="json"), "id": saved.id}
    assert store.find(original.run_key) == saved


def test_round_trip_normalises_time_zones_to_utc(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    local = T0.astimezone(timezone(timedelta(hours=2)))
    original = make_checkpoint(at=local)
    saved, _ = store.save(original)
    assert saved.created_at == original.created_at and saved.created_at.tzinfo == UTC
    assert saved.window.end == local and saved.window.end.utcoffset() == timedelta(0)


def test_minimal_checkpoint_round_trips(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    bare = make_checkpoint().model_copy(update={"gate": None, "metrics": {}, "allowlist_hashes": [], "checks": []})
    saved, _ = store.save(bare)
    assert saved == bare.model_copy(update={"id": saved.id})


def test_duplicate_run_key_returns_the_stored_checkpoint(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    first, created_first = store.save(make_checkpoint("hourly", run_key="k1"))
    again, created_again = store.save(make_checkpoint("retry", run_key="k1", status=Status.FAIL))

    assert (created_first, created_again) == (True, False)
    assert again == first
    assert (again.label, again.status) == ("hourly", Status.PASS)
    assert len(store.history("fav")) == 1


def test_find_unknown_run_key(pg_url: str) -> None:
    assert PostgresCheckpointStore(pg_url).find("missing") is None


@pytest.fixture
def filled(pg_url: str) -> PostgresCheckpointStore:
    store = PostgresCheckpointStore(pg_url)
    for i, (phase, label) in enumerate([("1%", "a"), ("1%", "b"), ("5%", "c"), ("1%", "d"), ("5%", "e")]):
        store.save(make_checkpoint(label, phase=phase, at=T0 + timedelta(hours=i)))
    store.save(make_checkpoint("other", feature="another_flag", at=T0 + timedelta(hours=9)))
    return store


@pytest.mark.parametrize(
    ("phase", "limit", "labels"),
    [
        pytest.param(None, None, ["e", "d", "c", "b", "a"], id="all-newest-first"),
        pytest.param("1%", None, ["d", "b", "a"], id="one-phase"),
        pytest.param("5%", 1, ["e"], id="phase-and-limit"),
        pytest.param(None, 2, ["e", "d"], id="limit"),
        pytest.param("50%", None, [], id="unknown-phase"),
    ],
)
def test_history(filled: PostgresCheckpointStore, phase: str | None, limit: int | None, labels: list[str]) -> None:
    assert [c.label for c in filled.history("fav", phase, limit)] == labels


def test_history_breaks_created_at_ties_by_id(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    for label in ("first", "second"):
        store.save(make_checkpoint(label, run_key=label))
    assert [c.label for c in store.history("fav")] == ["second", "first"]


def test_history_rejects_a_non_positive_limit(filled: PostgresCheckpointStore) -> None:
    with pytest.raises(ConfigError, match="--limit 0"):
        filled.history("fav", limit=0)


def test_phases_in_the_order_they_began(filled: PostgresCheckpointStore) -> None:
    assert filled.phases("fav") == ["1%", "5%"]
    assert filled.phases("never_checked") == []


def test_mark_appended_and_iter_unappended(filled: PostgresCheckpointStore) -> None:
    pending = list(filled.iter_unappended("fav", "1%"))
    assert [c.label for c in pending] == ["a", "b", "d"]

    assert pending[1].id is not None
    filled.mark_appended(pending[1].id)

    assert [c.label for c in filled.iter_unappended("fav", "1%")] == ["a", "d"]
    assert [c.appended for c in filled.history("fav", "1%")] == [False, True, False]
    assert [c.label for c in filled.iter_unappended("fav", "5%")] == ["c", "e"]


def test_mark_appended_unknown_id(pg_url: str) -> None:
    with pytest.raises(StoreError, match="checkpoint id 999 not found"):
        PostgresCheckpointStore(pg_url).mark_appended(999)


def test_expectation_absent_until_rollout_set(pg_url: str) -> None:
    assert PostgresCheckpointStore(pg_url).expectation("fav") is None


def test_corrupt_row_is_a_store_error(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    saved, _ = store.save(make_checkpoint())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE checkpoints SET status = 'MAYBE' WHERE id = %s", (saved.id,))
    with pytest.raises(StoreError, match=f"checkpoint id {saved.id} cannot be read .*status"):
        store.find(saved.run_key)


def _advisory_waiters(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def test_lock_serializes_two_threads(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url)
    events: list[str] = []
    a_holds, a_may_release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with store.lock("fav", "1%"):
                events.append("A acquired")
                a_holds.set()
                assert a_may_release.wait(60)
                events.append("A releasing")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            a_holds.set()

    def second() -> None:
        try:
            with store.lock("fav", "1%"):
                events.append("B acquired")
        except BaseException as exc:
            errors.append(exc)

    thread_a = threading.Thread(target=first)
    thread_a.start()
    assert a_holds.wait(60)
    thread_b = threading.Thread(target=second)
    thread_b.start()
    # Release A only once the database shows B waiting on the advisory lock (state, not timing).
    for _ in range(6000):
        if _advisory_waiters(pg_url) == 1 or not thread_b.is_alive():
            break
        time.sleep(0.01)
    assert _advisory_waiters(pg_url) == 1
    assert events == ["A acquired"]
    a_may_release.set()
    thread_a.join(60)
    thread_b.join(60)

    assert not errors
    assert events == ["A acquired", "A releasing", "B acquired"]


def test_lock_is_per_feature_and_phase(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url, lock_timeout=30)
    with store.lock("fav", "1%"), store.lock("fav", "5%"), store.lock("other", "1%"):
        assert _advisory_waiters(pg_url) == 0


def test_lock_held_too_long_is_a_store_error(pg_url: str) -> None:
    holder = PostgresCheckpointStore(pg_url)
    impatient = PostgresCheckpointStore(pg_url, lock_timeout=0.2)
    with holder.lock("fav", "1%"), pytest.raises(StoreError, match="held the lock for fav/1%"):  # noqa: SIM117
        with impatient.lock("fav", "1%"):
            pass


def test_lock_is_released_when_the_block_raises(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url, lock_timeout=30)
    with pytest.raises(RuntimeError), store.lock("fav", "1%"):
        raise RuntimeError("check crashed")
    with store.lock("fav", "1%"):
        pass
    assert _held_advisory_locks(pg_url) == 0


def _held_advisory_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row: Any = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0])


def test_adapters_satisfy_the_store_interfaces(pg_url: str) -> None:
    # The assignments type-check against monitor.store.base; the asserts keep the test honest at runtime.
    from monitor.store.base import AppendLedger, Checkpoints, Expectations, FlagSource, Migrations, RolloutAudit
    from monitor.store.flags import PostgresFlagSource

    store = PostgresCheckpointStore(pg_url)
    migrations: Migrations = store
    checkpoints: Checkpoints = store
    ledger: AppendLedger = store
    expectations: Expectations = store
    audit: RolloutAudit = store
    flags: FlagSource = PostgresFlagSource(pg_url)
    assert migrations.migrate() == [
        "0001_checkpoints",
        "0002_expectations",
        "0003_rollout_audit",
        "0004_cohort_failures",
        "0005_entry_form",
    ]
    assert checkpoints.entered_before("f", "p", [1]) == set()
    assert checkpoints.history("f") == list(ledger.iter_unappended("f", "p")) == []
    assert expectations.expectation("f") is None and audit.rollout_audit("f") == []
    assert callable(flags.get)


def test_save_under_the_lock_runs_on_the_lock_session(pg_url: str) -> None:
    store = PostgresCheckpointStore(pg_url, lock_timeout=30)
    with store.lock("fav", "1%"):
        saved, created = store.save(make_checkpoint("a"))
        again, created_again = store.save(make_checkpoint("a"))  # idempotent there too
    assert created and not created_again and again == saved
    assert [c.label for c in store.history("fav")] == ["a"]


@pytest.mark.parametrize("how", ["terminated", "unlocked"])
def test_save_after_the_lock_session_was_lost_stores_nothing(pg_url: str, how: str) -> None:
    """PostgreSQL restarting mid-run ends the session that held the lock: another run may hold it now, so the save
    must fail rather than store a checkpoint that run cannot see coming."""
    store = PostgresCheckpointStore(pg_url, lock_timeout=30)
    store.migrate()
    with store.lock("fav", "1%"):
        with psycopg.connect(pg_url, autocommit=True) as admin:
            pid = admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            assert pid is not None
            if how == "terminated":
                admin.execute("SELECT pg_terminate_backend(%s)", pid)
        if how == "unlocked":  # the session lives but no longer holds the lock (pg_advisory_unlock_all, a bug)
            conn, _key = store._held[("fav", "1%")]
            conn.execute("SELECT pg_advisory_unlock_all()")
        with pytest.raises(StoreError, match=r"^lost the checkpoint lock of fav/1% before storing") as caught:
            store.save(make_checkpoint("late"))
        assert "\n" not in str(caught.value)
    assert store.history("fav") == []
    assert _held_advisory_locks(pg_url) == 0


def test_history_is_in_the_order_of_the_lock_not_of_created_at(pg_url: str) -> None:
    """The id is assigned under the lock, like the phase log's order; two hosts' clocks may disagree."""
    store = PostgresCheckpointStore(pg_url)
    store.save(make_checkpoint("first", at=T0 + timedelta(minutes=5)))
    store.save(make_checkpoint("second", at=T0))  # its clock was behind
    assert [c.label for c in store.history("fav")] == ["second", "first"]
    assert [c.label for c in store.iter_unappended("fav", "1%")] == ["first", "second"]
