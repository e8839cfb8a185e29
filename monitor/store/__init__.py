"""PostgreSQL: the backend's flag tables (read, and written only by `rollout set`) and the watchdog's own tables
(checkpoints, expectations, the rollout audit, versioned migrations), behind the narrow interfaces of `base`.
psycopg lives only here."""

from monitor.store.base import (
    AppendLedger,
    CheckpointHistory,
    Checkpoints,
    Expectations,
    FlagSource,
    Migrations,
    RolloutAudit,
    RolloutStory,
)
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.flags import PostgresFlagSource, create_flag_tables, upsert_flag
from monitor.store.rollout import PostgresRolloutWriter

__all__ = [
    "AppendLedger",
    "CheckpointHistory",
    "Checkpoints",
    "Expectations",
    "FlagSource",
    "Migrations",
    "PostgresCheckpointStore",
    "PostgresFlagSource",
    "PostgresRolloutWriter",
    "RolloutAudit",
    "RolloutStory",
    "create_flag_tables",
    "upsert_flag",
]
