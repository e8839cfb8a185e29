"""The two databases a command talks to, on the URLs the settings name — or the embedded PostgreSQL, said so."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from monitor.settings import Settings
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.embedded import embedded_database_url, embedded_dir
from monitor.store.flags import PostgresFlagSource
from monitor.store.rollout import PostgresRolloutWriter

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def database_urls(settings: Settings, say: Say | None = None) -> tuple[str, str]:
    """(watchdog store URL, backend flags URL). No database configured → the embedded PostgreSQL, and say so."""
    store_url = settings.store_url()
    if store_url is None:
        data_dir = embedded_dir(settings.embedded_dir)
        store_url = embedded_database_url(data_dir)
        (say or _stderr)(f"Using embedded PostgreSQL at {data_dir} (set BETA_MONITOR_DATABASE_URL to use your own)")
    return store_url, settings.flags_url() or store_url


@dataclass
class Databases:
    """The watchdog's store and the backend's flags, on the URLs the settings name (or the embedded server)."""

    settings: Settings
    store_url: str
    flags_url: str

    @classmethod
    def open(cls, settings: Settings, say: Say | None = None) -> Databases:
        store_url, flags_url = database_urls(settings, say)
        return cls(settings, store_url, flags_url)

    @cached_property
    def store(self) -> PostgresCheckpointStore:
        """One store for the command (it remembers that it migrated)."""
        return PostgresCheckpointStore(self.store_url)

    def flags(self) -> PostgresFlagSource:
        return PostgresFlagSource(self.flags_url, **self._flag_tables())

    def rollout_writer(self) -> PostgresRolloutWriter:
        return PostgresRolloutWriter(self.flags_url, self.store_url, **self._flag_tables())

    def _flag_tables(self) -> dict[str, str]:
        """The backend's flag layout and table names (BETA_MONITOR_FLAG_SCHEMA, …_FLAGS_TABLE, …_ALLOWLIST_TABLE)."""
        s = self.settings
        return {"schema": s.flag_schema, "flags_table": s.flags_table, "allowlist_table": s.allowlist_table}
