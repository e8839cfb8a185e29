"""PostgreSQL adapters in one import: the backend's flags, the watchdog's checkpoints, `rollout set`, connections.

    from monitor.store.postgres import PostgresFlagSource, PostgresCheckpointStore, PostgresRolloutWriter
"""

from __future__ import annotations

from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.connection import connect, redact_url
from monitor.store.embedded import embedded_database_url
from monitor.store.flags import PostgresFlagSource, create_flag_tables, upsert_flag
from monitor.store.migrations import load_migrations
from monitor.store.rollout import PostgresRolloutWriter

__all__ = [
    "PostgresCheckpointStore",
    "PostgresFlagSource",
    "PostgresRolloutWriter",
    "connect",
    "create_flag_tables",
    "embedded_database_url",
    "load_migrations",
    "redact_url",
    "upsert_flag",
]
