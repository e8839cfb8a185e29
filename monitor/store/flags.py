"""The backend's flag tables: read the live config (both schemas), and the writes `rollout set` and the demo need.

Table names come from settings, are validated as identifiers and composed with `psycopg.sql.Identifier`; every value
is a query parameter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from monitor.domain.flag import FlagConfig
from monitor.errors import ConfigError, FlagNotFoundError, StoreError
from monitor.store.connection import connect, error_reason, jsonb, translate_errors, utc

log = logging.getLogger("beta_monitor")
SCHEMAS = ("columns", "json")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def table_identifier(name: str, setting: str) -> sql.Identifier:
    """'feature_flags' or 'backend.feature_flags' → a quoted identifier. Raises ConfigError naming the setting."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise ConfigError(f"{setting} {name[:60]!r} must be a plain table name (letters, digits, _, optional schema.)")
    return sql.Identifier(*parts)


def state(enabled: bool, rollout_percentage: int) -> dict[str, Any]:
    """The part of a flag `rollout set` changes, as audited and returned."""
    return {"enabled": bool(enabled), "rollout_percentage": int(rollout_percentage)}


def _json_percentage(raw: Any) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw) or not 0 <= raw <= 100:
        return None
    return int(raw)


class FlagTables:
    """SQL for one flag layout (`columns` or `json`) and its table names."""

    def __init__(self, schema: str, flags_table: str, allowlist_table: str) -> None:
        if schema not in SCHEMAS:
            raise ConfigError(f"BETA_MONITOR_FLAG_SCHEMA {schema[:20]!r} must be 'columns' or 'json'")
        self.schema = schema
        self.flags_name = flags_table
        self.allowlist_name = allowlist_table
        self.flags = table_identifier(flags_table, "BETA_MONITOR_FLAGS_TABLE")
        self.allowlist = table_identifier(allowlist_table, "BETA_MONITOR_ALLOWLIST_TABLE")

    @contextmanager
    def _table(self, name: str, setting: str) -> Iterator[None]:
        """Missing table or column → StoreError saying which table and which settings to check."""
        try:
            yield
        except psycopg.errors.UndefinedTable:
            raise StoreError(
                f"table {name} not found in the backend's flag database: check {setting} "
                f"and BETA_MONITOR_FLAG_SCHEMA (now {self.schema!r})"
            ) from None
        except psycopg.errors.UndefinedColumn as exc:
            raise StoreError(
                f"table {name} does not have the {self.schema!r} flag layout ({error_reason(exc)}): "
                "check BETA_MONITOR_FLAG_SCHEMA"
            ) from None

    def checking_table(self) -> AbstractContextManager[None]:
        """A missing flag table → StoreError naming BETA_MONITOR_FLAGS_TABLE."""
        return self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE")

    def _not_found(self, feature: str) -> FlagNotFoundError:
        return FlagNotFoundError(
            f"feature flag {feature[:100]!r} not found in {self.flags_name}: check the FEATURE argument"
        )

    # Reading -----------------------------------------------------------------------------------------------------
    def read(self, conn: psycopg.Connection[Any], feature: str) -> FlagConfig:
        """The flag and its allowlist from one snapshot."""
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if self.schema == "json":
                return self._read_json(conn, feature)
            return self._read_columns(conn, feature)

    def keys(self, conn: psycopg.Connection[Any]) -> list[str]:
        """Every flag key in the table, sorted."""
        column = sql.Identifier("flag_key" if self.schema == "json" else "key")
        query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(column, self.flags)
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            return [str(row[0]) for row in conn.execute(query)]

    def _read_columns(self, conn: psycopg.Connection[Any], feature: str) -> FlagConfig:
        query = sql.SQL("SELECT enabled, rollout_percentage, config_json, updated_at FROM {} WHERE key = %s")
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            row = conn.execute(query.format(self.flags), (feature,)).fetchone()
        if row is None:
            raise self._not_found(feature)
        ids = sql.SQL("SELECT passenger_id FROM {} WHERE feature_key = %s ORDER BY passenger_id")
        with self._table(self.allowlist_name, "BETA_MONITOR_ALLOWLIST_TABLE"):
            allowlist = tuple(r[0] for r in conn.execute(ids.format(self.allowlist), (feature,)))
        enabled, percentage, mirror, updated_at = row
        return FlagConfig(
            key=feature,
            enabled=bool(enabled),
            rollout_percentage=int(percentage),
            allowlist=allowlist,
            updated_at=utc(updated_at) if updated_at else None,
            mirror=mirror if isinstance(mirror, dict) else None,
        )

    def _read_json(self, conn: psycopg.Connection[Any], feature: str) -> FlagConfig:
        query = sql.SQL("SELECT value, updated_at FROM {} WHERE flag_key = %s")
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            row = conn.execute(query.format(self.flags), (feature,)).fetchone()
        if row is None:
            raise self._not_found(feature)
        enabled, percentage, allowlist = self._parse_value(feature, row[0])
        return FlagConfig(
            key=feature,
            enabled=enabled,
            rollout_percentage=percentage,
            allowlist=allowlist,
            updated_at=utc(row[1]) if row[1] else None,
        )

    def read_all(self, conn: psycopg.Connection[Any]) -> tuple[list[FlagConfig], list[str]]:
        """Every flag with its allowlist from one snapshot, by key; with the keys of the json-schema rows whose
        `value` is malformed (left out: one bad row of another flag must not stop a checkpoint)."""
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if self.schema == "json":
                return self._read_all_json(conn)
            return self._read_all_columns(conn), []

    def _read_all_columns(self, conn: psycopg.Connection[Any]) -> list[FlagConfig]:
        query = sql.SQL("SELECT key, enabled, rollout_percentage, updated_at FROM {} ORDER BY key")
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            rows = conn.execute(query.format(self.flags)).fetchall()
        ids = sql.SQL("SELECT feature_key, passenger_id FROM {} ORDER BY feature_key, passenger_id")
        allowlists: dict[str, list[str]] = {}
        with self._table(self.allowlist_name, "BETA_MONITOR_ALLOWLIST_TABLE"):
            for key, passenger in conn.execute(ids.format(self.allowlist)):
                allowlists.setdefault(key, []).append(passenger)
        return [
            FlagConfig(
                key=key,
                enabled=bool(enabled),
                rollout_percentage=int(percentage),
                allowlist=tuple(allowlists.get(key, ())),
                updated_at=utc(updated_at) if updated_at else None,
            )
            for key, enabled, percentage, updated_at in rows
        ]

    def _read_all_json(self, conn: psycopg.Connection[Any]) -> tuple[list[FlagConfig], list[str]]:
        query = sql.SQL("SELECT flag_key, value, updated_at FROM {} ORDER BY flag_key")
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            rows = conn.execute(query.format(self.flags)).fetchall()
        found, bad = [], []
        for key, value, updated_at in rows:
            try:
                enabled, percentage, allowlist = self._parse_value(key, value)
            except StoreError:
                bad.append(key)
                continue
            found.append(
                FlagConfig(
                    key=key,
                    enabled=enabled,
                    rollout_percentage=percentage,
                    allowlist=allowlist,
                    updated_at=utc(updated_at) if updated_at else None,
                )
            )
        return found, bad

    def _parse_value(self, feature: str, value: Any) -> tuple[bool, int, tuple[str, ...]]:
        """json schema `value` → (enabled, percentage, force_on). Missing keys mean off / 0 / none."""
        where = f"flag {feature[:100]!r} in {self.flags_name}"
        value = {} if value is None else value
        if not isinstance(value, dict):
            raise StoreError(f"{where}: value must be a JSON object with enabled, percentage, force_on — fix the row")
        enabled = value.get("enabled", False)
        if not isinstance(enabled, bool):
            raise StoreError(f"{where}: value.enabled must be true or false — fix the row")
        percentage = _json_percentage(value.get("percentage", 0))
        if percentage is None:
            raise StoreError(f"{where}: value.percentage must be an integer 0..100 — fix the row")
        force_on = value.get("force_on") or []
        if not isinstance(force_on, list) or not all(isinstance(i, str | int) for i in force_on):
            raise StoreError(f"{where}: value.force_on must be a list of passenger ids — fix the row")
        return enabled, percentage, tuple(sorted(str(i) for i in force_on))

    # Writing (rollout set) ---------------------------------------------------------------------------------------
    def lock_state(self, conn: psycopg.Connection[Any], feature: str) -> dict[str, Any]:
        """SELECT … FOR UPDATE the flag row inside the caller's transaction; its current state."""
        if self.schema == "columns":
            query = sql.SQL("SELECT enabled, rollout_percentage FROM {} WHERE key = %s FOR UPDATE")
        else:
            query = sql.SQL("SELECT value FROM {} WHERE flag_key = %s FOR UPDATE")
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            row = conn.execute(query.format(self.flags), (feature,)).fetchone()
        if row is None:
            raise self._not_found(feature)
        if self.schema == "columns":
            return state(row[0], row[1])
        enabled, percentage, _ = self._parse_value(feature, row[0])
        return state(enabled, percentage)

    def write_state(
        self, conn: psycopg.Connection[Any], feature: str, enabled: bool, percentage: int, now: datetime
    ) -> None:
        """Update enabled + percentage (and the config_json mirror when it is an object), updated_at = now."""
        if self.schema == "columns":
            query = sql.SQL(
                "UPDATE {} SET enabled = %(e)s, rollout_percentage = %(p)s, updated_at = %(now)s,"
                " config_json = CASE WHEN jsonb_typeof(config_json) = 'object'"
                " THEN config_json || jsonb_build_object('enabled', %(e)s::boolean, 'rollout_percentage', %(p)s::int)"
                " ELSE config_json END WHERE key = %(key)s"
            )
        else:
            query = sql.SQL(
                "UPDATE {} SET updated_at = %(now)s,"
                " value = (CASE WHEN jsonb_typeof(value) = 'object' THEN value ELSE '{{}}'::jsonb END)"
                " || jsonb_build_object('enabled', %(e)s::boolean, 'percentage', %(p)s::int) WHERE flag_key = %(key)s"
            )
        with self._table(self.flags_name, "BETA_MONITOR_FLAGS_TABLE"):
            conn.execute(query.format(self.flags), {"e": enabled, "p": percentage, "now": utc(now), "key": feature})

    # Creating and seeding (tests, demo) --------------------------------------------------------------------------
    def create(self, conn: psycopg.Connection[Any]) -> None:
        if self.schema == "json":
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (flag_key text PRIMARY KEY, value jsonb, description text,"
                    " updated_at timestamptz)"
                ).format(self.flags)
            )
            return
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, enabled boolean NOT NULL,"
                " rollout_percentage integer NOT NULL CHECK (rollout_percentage BETWEEN 0 AND 100),"
                " config_json jsonb, updated_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.flags)
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (feature_key text NOT NULL REFERENCES {}(key),"
                " passenger_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (feature_key, passenger_id))"
            ).format(self.allowlist, self.flags)
        )

    def upsert(
        self,
        conn: psycopg.Connection[Any],
        key: str,
        enabled: bool,
        percentage: int,
        *,
        allowlist: Sequence[str],
        updated_at: datetime,
        mirror: dict[str, Any] | None,
    ) -> None:
        if self.schema == "json":
            value = {"enabled": enabled, "percentage": percentage, "force_on": list(allowlist)}
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (flag_key, value, updated_at) VALUES (%s, %s, %s) ON CONFLICT (flag_key)"
                    " DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at"
                ).format(self.flags),
                (key, jsonb(value), updated_at),
            )
            return
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (key, enabled, rollout_percentage, config_json, updated_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (key) DO UPDATE SET enabled = EXCLUDED.enabled,"
                " rollout_percentage = EXCLUDED.rollout_percentage, config_json = EXCLUDED.config_json,"
                " updated_at = EXCLUDED.updated_at"
            ).format(self.flags),
            (key, enabled, percentage, None if mirror is None else jsonb(mirror), updated_at),
        )
        conn.execute(sql.SQL("DELETE FROM {} WHERE feature_key = %s").format(self.allowlist), (key,))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} (feature_key, passenger_id) VALUES (%s, %s)").format(self.allowlist),
                [(key, pid) for pid in allowlist],
            )


class PostgresFlagSource:
    """monitor.store.base.FlagSource on the backend's PostgreSQL (read-only)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "columns",
        flags_table: str = "feature_flags",
        allowlist_table: str = "feature_flag_allowlist",
    ) -> None:
        self.url = url
        self.tables = FlagTables(schema, flags_table, allowlist_table)

    def get(self, feature: str) -> FlagConfig:
        with (
            connect(self.url, purpose="flags") as conn,
            translate_errors(self.url, purpose="flags", action=f"reading flag {feature[:100]!r}"),
        ):
            return self.tables.read(conn, feature)

    def all_flags(self) -> list[FlagConfig]:
        """Every flag of the table with its allowlist (one snapshot), by key; a json-schema row whose `value` is
        malformed is left out with a warning naming it."""
        with (
            connect(self.url, purpose="flags") as conn,
            translate_errors(self.url, purpose="flags", action="reading every flag"),
        ):
            found, bad = self.tables.read_all(conn)
        for key in bad:
            log.warning("flag row left out: malformed value", extra={"flag": key[:100]})
        return found

    def can_update(self) -> bool:
        """Whether this connection's role may UPDATE the flag table, on the table or on any of its columns (the README's
        GRANT is column by column): what an automatic rollback or advance writes (`rollout set`'s writer locks the row
        and updates it). Raises StoreError when it cannot be asked."""
        with (
            connect(self.url, purpose="flags") as conn,
            translate_errors(self.url, purpose="flags", action="checking the flag table's privileges"),
            self.tables.checking_table(),
        ):
            row = conn.execute("SELECT has_any_column_privilege(%s, 'UPDATE')", (self.tables.flags_name,)).fetchone()
        return bool(row and row[0])

    def keys(self) -> list[str]:
        with (
            connect(self.url, purpose="flags") as conn,
            translate_errors(self.url, purpose="flags", action="listing the flags"),
        ):
            return self.tables.keys(conn)


def create_flag_tables(
    url: str,
    schema: str = "columns",
    *,
    flags_table: str = "feature_flags",
    allowlist_table: str = "feature_flag_allowlist",
) -> None:
    """Create the backend's flag tables (SPEC layouts) if missing: for tests and the demo."""
    tables = FlagTables(schema, flags_table, allowlist_table)
    with connect(url, purpose="flags") as conn, translate_errors(url, purpose="flags", action="creating flag tables"):
        tables.create(conn)


def upsert_flag(  # noqa: PLR0917 - a seeding helper whose calls read like the row they write
    url: str,
    schema: str,
    key: str,
    enabled: bool,
    rollout: int,
    allowlist: Sequence[str] = (),
    updated_at: datetime | None = None,
    *,
    mirror: bool | dict[str, Any] = True,
    flags_table: str = "feature_flags",
    allowlist_table: str = "feature_flag_allowlist",
) -> None:
    """Insert or replace a flag and its allowlist (tests, demo). `mirror` (columns schema): True writes a config_json
    that agrees with the columns, False writes NULL, a dict writes that dict."""
    tables = FlagTables(schema, flags_table, allowlist_table)
    doc = state(enabled, rollout) if mirror is True else (mirror if isinstance(mirror, dict) else None)
    when = updated_at or datetime.now().astimezone()
    with (
        connect(url, purpose="flags") as conn,
        translate_errors(url, purpose="flags", action="seeding a flag"),
        conn.transaction(),
    ):
        tables.upsert(conn, key, enabled, rollout, allowlist=allowlist, updated_at=when, mirror=doc)
