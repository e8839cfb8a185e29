"""The watchdog's own tables: checkpoints, expectations and the rollout audit (the interfaces of monitor.store.base).

Migrations are applied on first use (and by `migrate()` / `beta-monitor db init`). Every operation opens its own
short connection; `lock()` holds a dedicated one for as long as the advisory lock is held, and `save()` of a
checkpoint of a locked feature+phase runs on that very session after checking it still holds the lock: a session
lost mid-run (PostgreSQL restarted, the backend terminated) makes the save fail instead of storing a checkpoint
that another run, which took the lock meanwhile, cannot see coming.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import ValidationError

from monitor.domain.checkpoint import Checkpoint
from monitor.domain.flag import ExpectedConfig
from monitor.errors import ConfigError, StoreError
from monitor.store.connection import connect, error_reason, jsonb, translate_errors, utc
from monitor.store.migrations import advisory_key, apply_migrations

_COLUMNS = (
    "id, run_key, feature, phase, label, status, window_start, window_end, live_config, expected, checks, metrics,"
    " gate, allowlist_hashes, appended, created_at, entry"
)
_INSERT = (
    "INSERT INTO checkpoints (run_key, feature, phase, label, status, window_start, window_end, live_config,"
    " expected, checks, metrics, gate, allowlist_hashes, appended, created_at, entry)"
    " VALUES (%(run_key)s, %(feature)s, %(phase)s, %(label)s, %(status)s, %(window_start)s, %(window_end)s,"
    " %(live_config)s, %(expected)s, %(checks)s, %(metrics)s, %(gate)s, %(allowlist_hashes)s, %(appended)s,"
    " %(created_at)s, %(entry)s)"
    " ON CONFLICT (run_key) DO NOTHING RETURNING " + _COLUMNS
)
DEFAULT_LOCK_TIMEOUT_SECONDS = 900.0


def checkpoint_params(checkpoint: Checkpoint) -> dict[str, Any]:
    data = checkpoint.model_dump(mode="json")
    return {
        "run_key": checkpoint.run_key,
        "feature": checkpoint.feature,
        "phase": checkpoint.phase,
        "label": checkpoint.label,
        "status": str(checkpoint.status),
        "window_start": utc(checkpoint.window.start),
        "window_end": utc(checkpoint.window.end),
        "live_config": jsonb(data["live_config"]),
        "expected": jsonb(data["expected"]),
        "checks": jsonb(data["checks"]),
        "metrics": jsonb(data["metrics"]),
        "gate": None if data["gate"] is None else jsonb(data["gate"]),
        "allowlist_hashes": list(checkpoint.allowlist_hashes),
        "appended": checkpoint.appended,
        "created_at": utc(checkpoint.created_at),
        "entry": checkpoint.entry,
    }


def checkpoint_from_row(row: dict[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.model_validate(
            {
                **{k: row[k] for k in ("id", "run_key", "feature", "phase", "label", "status", "appended", "entry")},
                "window": {"start": utc(row["window_start"]), "end": utc(row["window_end"])},
                "live_config": row["live_config"],
                "expected": row["expected"],
                "checks": row["checks"],
                "metrics": row["metrics"] or {},
                "gate": row["gate"],
                "allowlist_hashes": list(row["allowlist_hashes"] or ()),
                "created_at": utc(row["created_at"]),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise StoreError(
            f"checkpoint id {row['id']} cannot be read ({where}: {first.get('msg')}): repair or delete that row"
        ) from None


def _insert(
    cur: psycopg.Cursor[dict[str, Any]], checkpoint: Checkpoint, failures: Collection[int] = ()
) -> tuple[dict[str, Any] | None, bool]:
    """(row, created): the inserted row, with the window's first failures beside it (inside the caller's
    transaction), or the stored one of the same run key (None if it vanished); a conflict writes nothing."""
    row = cur.execute(_INSERT, checkpoint_params(checkpoint)).fetchone()
    if row is not None:
        if failures:
            cur.execute(
                "INSERT INTO cohort_failures (checkpoint_id, feature, phase, keys) VALUES (%s, %s, %s, %s)",
                (row["id"], checkpoint.feature, checkpoint.phase, sorted(failures)),
            )
        return row, True
    found = cur.execute("SELECT " + _COLUMNS + " FROM checkpoints WHERE run_key = %s", (checkpoint.run_key,))
    return found.fetchone(), False


def record_rollout(
    conn: psycopg.Connection[Any],
    *,
    feature: str,
    actor: str,
    at: datetime,
    reason: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Write the audit row and upsert the expectation (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO rollout_audit (feature, actor, at, before, after, reason) VALUES (%s, %s, %s, %s, %s, %s)",
        (feature, actor, utc(at), jsonb(before), jsonb(after), reason),
    )
    conn.execute(
        "INSERT INTO expectations (feature, enabled, rollout_percentage, reason, actor, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (feature) DO UPDATE SET enabled = EXCLUDED.enabled,"
        " rollout_percentage = EXCLUDED.rollout_percentage, reason = EXCLUDED.reason, actor = EXCLUDED.actor,"
        " updated_at = EXCLUDED.updated_at",
        (feature, after["enabled"], after["rollout_percentage"], reason, actor, utc(at)),
    )


def record_gate(conn: psycopg.Connection[Any], checkpoint: Checkpoint) -> None:
    """Rewrite a stored checkpoint's gate (with what the job did about it), inside the caller's transaction."""
    gate = checkpoint.model_dump(mode="json")["gate"]
    cur = conn.execute(
        "UPDATE checkpoints SET gate = %s WHERE id = %s", (None if gate is None else jsonb(gate), checkpoint.id)
    )
    if cur.rowcount == 0:
        raise StoreError(f"checkpoint id {checkpoint.id} not found in the watchdog database")


class PostgresCheckpointStore:
    """Checkpoints, AppendLedger, Expectations, RolloutAudit and Migrations (monitor.store.base) on the watchdog's
    PostgreSQL."""

    def __init__(self, url: str, *, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.lock_timeout = lock_timeout  # seconds to wait for lock(); None waits for ever
        self._migrated = False
        self._held: dict[tuple[str, str], tuple[psycopg.Connection[Any], int]] = {}

    @contextmanager
    def _connection(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        with (
            connect(self.url, purpose="watchdog") as conn,
            translate_errors(self.url, purpose="watchdog", action=action),
        ):
            if not self._migrated:
                apply_migrations(conn)
                self._migrated = True
            yield conn

    def _rows(self, action: str, query: str, params: Any) -> list[dict[str, Any]]:
        with self._connection(action) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def migrate(self) -> list[str]:
        """Apply pending migrations (idempotent, safe to run concurrently); returns the names applied."""
        with (
            connect(self.url, purpose="watchdog") as conn,
            translate_errors(self.url, purpose="watchdog", action="migrating the watchdog tables"),
        ):
            applied = apply_migrations(conn)
        self._migrated = True
        return applied

    @contextmanager
    def lock(self, feature: str, phase: str) -> Iterator[None]:
        """Hold pg_advisory_lock(feature, phase) on a dedicated connection until the block exits."""
        key = advisory_key("checkpoint", feature, phase)
        conn = connect(self.url, purpose="watchdog")
        try:
            with translate_errors(self.url, purpose="watchdog", action="taking the checkpoint lock"):
                if self.lock_timeout is not None:
                    timeout = f"{int(self.lock_timeout * 1000)}ms"
                    conn.execute("SELECT set_config('lock_timeout', %s, false)", (timeout,))
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                except psycopg.errors.LockNotAvailable:
                    raise StoreError(
                        f"another beta-monitor run held the lock for {feature[:100]}/{phase[:100]} longer than "
                        f"{self.lock_timeout:g} s: wait for it to finish, or find and stop the stuck run"
                    ) from None
            self._held[(feature, phase)] = (conn, key)
            yield
        finally:
            self._held.pop((feature, phase), None)
            with suppress(psycopg.Error):  # closing the connection releases the lock anyway
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            conn.close()

    def save(self, checkpoint: Checkpoint, failures: Collection[int] = ()) -> tuple[Checkpoint, bool]:
        """Insert the checkpoint and, in the same transaction, its window's first failures (passenger keys); on a
        run-key conflict nothing is written and the stored one comes back. Under `lock()` of its feature+phase, on
        the lock's own session, which must still hold the lock (else StoreError, nothing stored)."""
        held = self._held.get((checkpoint.feature, checkpoint.phase))
        if held is not None:
            row, created = self._save_under_lock(checkpoint, failures, *held)
        else:
            with (
                self._connection("saving a checkpoint") as conn,
                conn.transaction(),
                conn.cursor(row_factory=dict_row) as cur,
            ):
                row, created = _insert(cur, checkpoint, failures)
        if row is None:
            raise StoreError(f"checkpoint run key {checkpoint.run_key[:200]!r} conflicted but is gone: run again")
        return checkpoint_from_row(row), created

    def _save_under_lock(
        self, checkpoint: Checkpoint, failures: Collection[int], conn: psycopg.Connection[Any], key: int
    ) -> tuple[dict[str, Any] | None, bool]:
        where = f"{checkpoint.feature[:100]}/{checkpoint.phase[:100]}"
        lost = StoreError(
            f"lost the checkpoint lock of {where} before storing (the database session holding it ended: PostgreSQL "
            "restarted or the session was terminated); nothing stored — run again"
        )
        if not self._migrated:
            with self._connection("migrating the watchdog tables"):
                pass
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                still_held = cur.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
                    " AND classid = %s AND objid = %s AND objsubid = 1",
                    ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
                ).fetchone()
                if still_held is None:
                    raise lost
                return _insert(cur, checkpoint, failures)
        except psycopg.OperationalError:
            raise lost from None
        except psycopg.Error as exc:
            raise StoreError(f"watchdog database error while saving a checkpoint: {error_reason(exc)}") from exc

    def record_gate(self, checkpoint: Checkpoint) -> None:
        """Store the checkpoint's gate again (a skipped, dry or failed automatic change recorded with it)."""
        with self._connection("recording the gate's action") as conn:
            record_gate(conn, checkpoint)

    def entered_before(self, feature: str, phase: str, keys: Collection[int]) -> set[int]:
        """Which of `keys` (passenger keys) entered the cohort evidence at an earlier checkpoint of the phase (table
        `cohort_failures`, named before heavy passengers entered without a 5xx, `monitor.checks.bets`): a hash
        join of `keys` against the phase's stored keys, so memory follows the window's passengers, not the phase's."""
        if not keys:
            return set()
        rows = self._rows(
            "reading the phase's judged passengers",
            "SELECT DISTINCT stored.k FROM (SELECT unnest(keys) AS k FROM cohort_failures"
            " WHERE feature = %(f)s AND phase = %(p)s) AS stored JOIN (SELECT unnest(%(keys)s::bigint[]) AS k) AS seen"
            " ON seen.k = stored.k",
            {"keys": list(keys), "f": feature, "p": phase},
        )
        return {r["k"] for r in rows}

    def find(self, run_key: str) -> Checkpoint | None:
        rows = self._rows(
            "reading a checkpoint", "SELECT " + _COLUMNS + " FROM checkpoints WHERE run_key = %s", (run_key,)
        )
        return checkpoint_from_row(rows[0]) if rows else None

    def mark_appended(self, checkpoint_id: int) -> None:
        with self._connection("marking a checkpoint appended") as conn:
            cur = conn.execute("UPDATE checkpoints SET appended = true WHERE id = %s", (checkpoint_id,))
            if cur.rowcount == 0:
                raise StoreError(f"checkpoint id {checkpoint_id} not found in the watchdog database")

    def history(self, feature: str, phase: str | None = None, limit: int | None = None) -> list[Checkpoint]:
        """Newest first, optionally one phase and at most `limit`. Ordered by id, which is assigned under the
        feature+phase lock: the order the phase log was appended in (clocks of two hosts may disagree)."""
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit {limit} must be 1 or more")
        rows = self._rows(
            "reading checkpoint history",
            "SELECT " + _COLUMNS + " FROM checkpoints WHERE feature = %(f)s AND (%(p)s::text IS NULL OR phase = %(p)s)"
            " ORDER BY id DESC LIMIT %(l)s",
            {"f": feature, "p": phase, "l": limit},
        )
        return [checkpoint_from_row(r) for r in rows]

    def timeline(self, feature: str) -> list[Checkpoint]:
        """Every checkpoint of the feature, across its phases, in the order of the time it judged: by window end,
        then by when it was stored (created_at, then id: the order of the lock). `report FEATURE`'s story."""
        rows = self._rows(
            "reading the rollout's checkpoints",
            "SELECT " + _COLUMNS + " FROM checkpoints WHERE feature = %s ORDER BY window_end, created_at, id",
            (feature,),
        )
        return [checkpoint_from_row(r) for r in rows]

    def phases(self, feature: str) -> list[str]:
        """The feature's phases, in the order they began."""
        rows = self._rows(
            "reading phases",
            "SELECT phase FROM checkpoints WHERE feature = %s GROUP BY phase ORDER BY min(id)",
            (feature,),
        )
        return [r["phase"] for r in rows]

    def iter_unappended(self, feature: str, phase: str) -> Iterator[Checkpoint]:
        """Checkpoints whose phase-log entry was never appended, oldest first."""
        rows = self._rows(
            "reading unappended checkpoints",
            "SELECT " + _COLUMNS + " FROM checkpoints WHERE feature = %s AND phase = %s AND NOT appended ORDER BY id",
            (feature, phase),
        )
        return iter([checkpoint_from_row(r) for r in rows])

    def expectation(self, feature: str) -> ExpectedConfig | None:
        rows = self._rows(
            "reading the stored expectation",
            "SELECT enabled, rollout_percentage FROM expectations WHERE feature = %s",
            (feature,),
        )
        if not rows:
            return None
        row = rows[0]
        return ExpectedConfig(rollout_percentage=row["rollout_percentage"], enabled=row["enabled"], source="stored")

    def expected_features(self) -> list[str]:
        rows = self._rows(
            "listing the flags with a stored expectation", "SELECT feature FROM expectations ORDER BY 1", ()
        )
        return [str(row["feature"]) for row in rows]

    def rollout_audit(self, feature: str, limit: int | None = None) -> list[dict[str, Any]]:
        """`rollout set` audit rows of a feature, newest first: actor, at, before, after, reason."""
        return self._rows(
            "reading the rollout audit",
            "SELECT feature, actor, at, before, after, reason FROM rollout_audit WHERE feature = %s"
            " ORDER BY at DESC, id DESC LIMIT %s",
            (feature, limit),
        )
