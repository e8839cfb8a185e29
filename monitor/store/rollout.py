"""`rollout set`: change a flag, audit the change and store the new expectation.

Same database for flags and watchdog tables: one transaction does all three.

Two databases: the order is
  1. flags DB: BEGIN; SELECT … FOR UPDATE the flag row; UPDATE it (not committed, the row stays locked);
  2. watchdog DB: INSERT the audit row and upsert the expectation; COMMIT;
  3. flags DB: COMMIT.
A failure before step 2 commits changes nothing anywhere. If the flags commit (step 3) fails after step 2, the audit
records a change that did not happen and the expectation disagrees with the live flag: the next checkpoint's
config_drift check FAILs loudly, which is the safe side — a flag never changes without an audit row.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import Any

import psycopg

from monitor.domain.checkpoint import Checkpoint
from monitor.errors import ConfigChangedError, ConfigError
from monitor.store.checkpoints import PostgresCheckpointStore, record_gate, record_rollout
from monitor.store.connection import connect, translate_errors
from monitor.store.flags import FlagTables, state


def validate_percent(percent: object) -> int:
    """A rollout percentage 0..100 (an int), else ConfigError."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ConfigError(f"rollout percent {str(percent)[:20]} must be a whole number between 0 and 100")
    return percent


class PostgresRolloutWriter:
    """Writes the backend's flag row and the watchdog's audit + expectation."""

    def __init__(
        self,
        flags_url: str,
        store_url: str,
        *,
        schema: str = "columns",
        flags_table: str = "feature_flags",
        allowlist_table: str = "feature_flag_allowlist",
    ) -> None:
        self.flags_url = flags_url
        self.store_url = store_url
        self.tables = FlagTables(schema, flags_table, allowlist_table)
        self.store = PostgresCheckpointStore(store_url)

    def set_rollout(
        self,
        feature: str,
        percent: int,
        enabled: bool | None,
        *,
        reason: str,
        actor: str,
        now: datetime,
        expect: dict[str, Any] | None = None,
        record: Checkpoint | None = None,
    ) -> dict[str, Any]:
        """Returns {"before": {enabled, rollout_percentage}, "after": {...}}. Raises FlagNotFoundError, ConfigError,
        StoreError; on any error nothing is changed. `expect` (the job's automatic change): the flag's state it was
        judged at — another state under the row lock raises ConfigChangedError and writes nothing. `record`: a stored
        checkpoint whose gate (with the act) is rewritten inside the audit's transaction."""
        percent = validate_percent(percent)
        if not reason.strip():
            raise ConfigError("--reason must say why the rollout changes")
        self.store.migrate()
        action = f"setting the rollout of {feature[:100]!r}"
        if self.flags_url == self.store_url:
            with (
                connect(self.flags_url, purpose="flags") as conn,
                translate_errors(self.flags_url, purpose="flags", action=action),
                conn.transaction(),
            ):
                return self._change(
                    conn,
                    conn,
                    feature,
                    percent,
                    enabled=enabled,
                    reason=reason,
                    actor=actor,
                    now=now,
                    expect=expect,
                    record=record,
                )
        with ExitStack() as stack:  # exits in reverse: the watchdog transaction commits first, the flag's last
            flags_conn = stack.enter_context(connect(self.flags_url, purpose="flags"))
            stack.enter_context(translate_errors(self.flags_url, purpose="flags", action=action))
            stack.enter_context(flags_conn.transaction())
            store_conn = stack.enter_context(connect(self.store_url, purpose="watchdog"))
            stack.enter_context(translate_errors(self.store_url, purpose="watchdog", action=action))
            stack.enter_context(store_conn.transaction())
            return self._change(
                flags_conn,
                store_conn,
                feature,
                percent,
                enabled=enabled,
                reason=reason,
                actor=actor,
                now=now,
                expect=expect,
                record=record,
            )

    def _change(
        self,
        flags_conn: psycopg.Connection[Any],
        store_conn: psycopg.Connection[Any],
        feature: str,
        percent: int,
        *,
        enabled: bool | None,
        reason: str,
        actor: str,
        now: datetime,
        expect: dict[str, Any] | None = None,
        record: Checkpoint | None = None,
    ) -> dict[str, Any]:
        """Inside open transactions: lock + update the flag, then audit + expectation. Commit order is the caller's."""
        before = self.tables.lock_state(flags_conn, feature)
        if expect is not None and before != state(expect["enabled"], expect["rollout_percentage"]):
            raise ConfigChangedError(f"flag {feature[:100]!r} changed under the verdict", current=before)
        after = state(before["enabled"] if enabled is None else enabled, percent)
        self.tables.write_state(flags_conn, feature, after["enabled"], after["rollout_percentage"], now)
        record_rollout(store_conn, feature=feature, actor=actor, at=now, reason=reason, before=before, after=after)
        if record is not None:
            record_gate(store_conn, record)
        return {"before": before, "after": after}
